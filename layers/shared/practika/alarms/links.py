"""Console deep links, right for the region and the partition (aws, aws-cn, aws-us-gov)."""

import re
from urllib.parse import quote, urlsplit

_REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$")

# CloudWatch alarm notifications name the region for people ("US East (N. Virginia)"), not its code.
_REGION_NAMES = {
    "us east (n. virginia)": "us-east-1",
    "us east - n. virginia": "us-east-1",
    "us east (ohio)": "us-east-2",
    "us west (n. california)": "us-west-1",
    "us west - n. california": "us-west-1",
    "us west (oregon)": "us-west-2",
    "us west - oregon": "us-west-2",
    "africa (cape town)": "af-south-1",
    "asia pacific (hong kong)": "ap-east-1",
    "asia pacific (mumbai)": "ap-south-1",
    "asia pacific (osaka)": "ap-northeast-3",
    "asia pacific (seoul)": "ap-northeast-2",
    "asia pacific (singapore)": "ap-southeast-1",
    "asia pacific (sydney)": "ap-southeast-2",
    "asia pacific (jakarta)": "ap-southeast-3",
    "asia pacific (tokyo)": "ap-northeast-1",
    "canada (central)": "ca-central-1",
    "eu (frankfurt)": "eu-central-1",
    "europe (frankfurt)": "eu-central-1",
    "eu (ireland)": "eu-west-1",
    "europe (ireland)": "eu-west-1",
    "eu (london)": "eu-west-2",
    "europe (london)": "eu-west-2",
    "eu (paris)": "eu-west-3",
    "europe (paris)": "eu-west-3",
    "eu (milan)": "eu-south-1",
    "europe (milan)": "eu-south-1",
    "eu (stockholm)": "eu-north-1",
    "europe (stockholm)": "eu-north-1",
    "europe (zurich)": "eu-central-2",
    "europe (spain)": "eu-south-2",
    "middle east (bahrain)": "me-south-1",
    "middle east (uae)": "me-central-1",
    "south america (sao paulo)": "sa-east-1",
    "south america (são paulo)": "sa-east-1",
    "aws govcloud (us-west)": "us-gov-west-1",
    "aws govcloud (us-east)": "us-gov-east-1",
    "aws govcloud (us)": "us-gov-west-1",
    "china (beijing)": "cn-north-1",
    "china (ningxia)": "cn-northwest-1",
}


MAX_URL_CHARS = 2000
# Characters kept as they are in a link; anything else (spaces, quotes, <>, |, (), [], backslash,
# non-ASCII) is percent-encoded so the URL cannot end a Slack <url|text> or a markdown (url) early.
_URL_SAFE = "-._~:/?#@!$&*+,;=%"
_CONSOLE_HOST = re.compile(
    r"^(?:[a-z0-9-]+\.)*(?:console\.aws\.amazon\.com|console\.amazonaws\.cn|console\.amazonaws-us-gov\.com)$"
    r"|^health\.aws\.amazon\.com$"
)


def safe_url(url: str | None) -> str | None:
    """`url` fit to be a button or link target: http(s) with a host, escaped, bounded; else None."""
    if not url:
        return None
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname
    except ValueError:
        return None
    # No user-info: `https://console.aws.amazon.com@evil.example` reads as one host and goes to another.
    if parts.scheme not in ("https", "http") or "@" in parts.netloc:
        return None
    if not host or not re.fullmatch(r"[A-Za-z0-9.-]+", host):
        return None
    escaped = quote(url.strip(), safe=_URL_SAFE)
    return escaped if len(escaped) <= MAX_URL_CHARS else None


def is_console_url(url: str) -> bool:
    """An AWS console (or AWS Health dashboard) page, in any partition."""
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return False
    return safe_url(url) is not None and url.startswith("https://") and bool(host and _CONSOLE_HOST.match(host))


def region_code(value: str | None) -> str | None:
    """A region code from a code or a display name; None when it is neither."""
    if not value:
        return None
    value = value.strip()
    if _REGION.match(value):
        return value
    return _REGION_NAMES.get(value.lower())


def region_from_arn(arn: str | None) -> str | None:
    parts = (arn or "").split(":")
    return region_code(parts[3]) if len(parts) > 4 and parts[0] == "arn" else None


def partition(region: str | None) -> str:
    if region and region.startswith("cn-"):
        return "aws-cn"
    if region and region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def _console(region: str | None) -> str:
    domain = {
        "aws-cn": "console.amazonaws.cn",
        "aws-us-gov": "console.amazonaws-us-gov.com",
    }.get(partition(region), "console.aws.amazon.com")
    return f"https://{region}.{domain}" if region else f"https://{domain}"


def alarm_url(region: str | None, alarm_name: str) -> str:
    query = f"?region={region}" if region else ""
    return f"{_console(region)}/cloudwatch/home{query}#alarmsV2:alarm/{quote(alarm_name, safe='')}"


def guardduty_url(region: str | None, finding_id: str | None) -> str:
    query = f"?region={region}" if region else ""
    fragment = f"#/findings?macros=current&fId={quote(finding_id, safe='')}" if finding_id else "#/findings"
    return f"{_console(region)}/guardduty/home{query}{fragment}"


def health_url(event_arn: str | None) -> str:
    base = "https://health.aws.amazon.com/health/home#/account/event-log"
    return f"{base}?eventID={quote(event_arn, safe='')}" if event_arn else base


def budgets_url(region: str | None) -> str:
    # Budgets live in the global billing console of the partition.
    home = "cn-north-1" if partition(region) == "aws-cn" else None
    return f"{_console(home)}/billing/home#/budgets"
