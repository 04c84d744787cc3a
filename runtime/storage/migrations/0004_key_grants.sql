-- Better-State storage, version 4: an API key's grants, the keys it may
-- read and write ("PATTERN:MODE" lines; empty: every key of its namespace,
-- as before).
ALTER TABLE api_keys ADD COLUMN grants TEXT NOT NULL DEFAULT '';
