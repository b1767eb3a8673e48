-- 0002_visual_theme_chart_style (PostgreSQL, up): the console's theme and chart style.
ALTER TABLE visual_feedback_settings
    ADD COLUMN theme TEXT NOT NULL DEFAULT 'system'
        CONSTRAINT ck_visual_feedback_settings_theme CHECK (theme IN ('system', 'light', 'dark')),
    ADD COLUMN chart_style TEXT NOT NULL DEFAULT 'candles'
        CONSTRAINT ck_visual_feedback_settings_chart_style CHECK (chart_style IN ('candles', 'bars', 'line', 'area'));
