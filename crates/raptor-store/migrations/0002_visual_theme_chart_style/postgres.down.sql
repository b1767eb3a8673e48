-- 0002_visual_theme_chart_style (PostgreSQL, down).
ALTER TABLE visual_feedback_settings DROP COLUMN chart_style, DROP COLUMN theme;
