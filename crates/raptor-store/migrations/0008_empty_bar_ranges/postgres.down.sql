-- 0008_empty_bar_ranges (postgres, down).
DROP TABLE empty_bar_ranges;
