-- 0012_api_keys (sqlite, down).
DROP TABLE api_keys;
