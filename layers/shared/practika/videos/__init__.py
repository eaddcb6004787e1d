"""Videos: uploads (presigned POST or multipart, quotas) and validation (sniff, probe, verdict),
over the video records and uploaded objects; read model -> rules -> uploads / validation -> store."""
