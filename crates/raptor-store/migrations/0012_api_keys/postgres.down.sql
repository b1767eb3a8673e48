-- 0012_api_keys (postgres, down).
DROP TABLE api_keys;
