-- 0008_empty_bar_ranges (sqlite, down).
DROP TABLE empty_bar_ranges;
