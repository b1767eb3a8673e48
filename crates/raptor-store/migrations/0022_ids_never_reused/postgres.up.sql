-- 0022_ids_never_reused (postgres, up): nothing to change; sequences never give an id twice
-- (see the sqlite script).
SELECT 1;
