-- 0022_ids_never_reused (postgres, down): nothing to undo.
SELECT 1;
