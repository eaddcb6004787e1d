"""template.yaml, transformed by the SAM translator, creates its stack in moto's CloudFormation."""

from tests.deploy.conftest import FUNCTION_PROPERTIES_MODELLED, FUNCTION_PROPERTIES_NOT_MODELLED, NOT_MODELLED


def test_the_transformed_template_creates_a_stack_with_default_parameters(deployed):
    assert deployed.status == "CREATE_COMPLETE", deployed.reason


def test_no_resource_type_is_skipped_unless_it_is_on_the_not_modelled_list(deployed):
    assert deployed.unsupported_warnings == []


def test_the_not_modelled_list_holds_only_types_the_template_uses(transformed):
    used = {resource["Type"] for resource in transformed["Resources"].values()}
    assert set(NOT_MODELLED) <= used, f"drop from NOT_MODELLED: {set(NOT_MODELLED) - used}"


def test_every_resource_whose_condition_holds_is_created(transformed, deployed):
    created = {r["LogicalResourceId"] for r in deployed.resources}
    conditional = {lid for lid, r in transformed["Resources"].items() if "Condition" in r}
    assert created == set(transformed["Resources"]) - conditional


def test_every_function_is_created_with_its_runtime_memory_and_timeout(transformed, deployed):
    declared = {
        lid: r["Properties"] for lid, r in transformed["Resources"].items() if r["Type"] == "AWS::Lambda::Function"
    }
    assert set(deployed.functions) == set(declared)
    for lid, config in deployed.functions.items():
        assert (config["Runtime"], config["MemorySize"], config["Timeout"]) == (
            declared[lid]["Runtime"],
            declared[lid]["MemorySize"],
            declared[lid]["Timeout"],
        ), lid


def test_every_function_property_is_either_modelled_by_moto_or_listed_as_not(transformed):
    used = {
        p for r in transformed["Resources"].values() if r["Type"] == "AWS::Lambda::Function" for p in r["Properties"]
    }
    assert used - FUNCTION_PROPERTIES_MODELLED - FUNCTION_PROPERTIES_NOT_MODELLED == set()
