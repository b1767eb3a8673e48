-- 0002_visual_theme_chart_style (SQLite, down).
ALTER TABLE visual_feedback_settings DROP COLUMN chart_style;
ALTER TABLE visual_feedback_settings DROP COLUMN theme;
