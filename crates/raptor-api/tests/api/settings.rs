//! Customer settings, visual feedback and onboarding over real HTTP on both dialects.

use raptor_testkit::{accounts, dual_app_test};
use serde_json::json;

dual_app_test!(
    settings_start_with_defaults_and_patches_change_only_what_they_name,
    |t, app| {
        let mut ada = accounts::customer(app, "ada@example.com").await;
        let defaults = ada.get("/api/settings").await;
        assert_eq!(defaults.status, 200);
        assert_eq!(defaults.body["timezone"], "America/New_York");
        assert_eq!(defaults.body["default_timeframe"], "1Day");
        assert_eq!(defaults.body["notifications"]["order_fills"], true);

        let patched = ada
            .patch(
                "/api/settings",
                json!({ "timezone": "Europe/London", "display_name": "Ada L." }),
            )
            .await;
        assert_eq!(patched.status, 200, "{:?}", patched.body);
        let reread = ada.get("/api/settings").await;
        assert_eq!(reread.body["timezone"], "Europe/London");
        assert_eq!(reread.body["display_name"], "Ada L.");
        assert_eq!(
            reread.body["default_timeframe"], "1Day",
            "an unnamed setting changed"
        );
        assert_eq!(
            ada.get("/api/auth/session").await.body["user"]["display_name"],
            "Ada L."
        );
    }
);

dual_app_test!(
    invalid_settings_name_the_field_and_change_nothing,
    |t, app| {
        let mut ada = accounts::customer(app, "ada@example.com").await;
        for (body, field) in [
            (
                json!({ "timezone": "Mars/Olympus_Mons", "default_timeframe": "1Hour" }),
                "timezone",
            ),
            (json!({ "default_timeframe": "2Min" }), "default_timeframe"),
            (json!({ "display_name": "" }), "display_name"),
        ] {
            let reply = ada.patch("/api/settings", body).await;
            assert_eq!(
                (reply.status, reply.body["field"].as_str()),
                (422, Some(field)),
                "{:?}",
                reply.body
            );
        }
        let unknown = ada.patch("/api/settings", json!({ "theme": "dark" })).await;
        assert_eq!(unknown.status, 422, "unknown fields are refused");
        let reread = ada.get("/api/settings").await;
        assert_eq!(
            reread.body["default_timeframe"], "1Day",
            "a refused patch was half-applied"
        );
        assert_eq!(app.browser().get("/api/settings").await.status, 401);
    }
);

dual_app_test!(visual_feedback_round_trips_and_is_validated, |t, app| {
    let mut ada = accounts::customer(app, "ada@example.com").await;
    assert_eq!(
        ada.get("/api/settings/visual-feedback").await.body["theme"],
        "system"
    );
    let wanted = json!({
        "theme": "dark", "chart_style": "line", "reduced_motion": true, "sounds": true,
        "animations": false, "haptics": true, "pnl_colors": "blue_orange"
    });
    let put = ada
        .send(
            reqwest::Method::PUT,
            "/api/settings/visual-feedback",
            Some(wanted.clone()),
        )
        .await;
    assert_eq!(put.status, 200, "{:?}", put.body);
    assert_eq!(ada.get("/api/settings/visual-feedback").await.body, wanted);
    let mut bad = wanted.clone();
    bad["theme"] = json!("neon");
    let reply = ada
        .send(
            reqwest::Method::PUT,
            "/api/settings/visual-feedback",
            Some(bad),
        )
        .await;
    assert_eq!(
        (reply.status, reply.body["field"].as_str()),
        (422, Some("theme"))
    );
    assert_eq!(ada.get("/api/settings/visual-feedback").await.body, wanted);
});

dual_app_test!(
    onboarding_steps_complete_once_and_unknown_steps_are_404,
    |t, app| {
        let mut ada = accounts::customer(app, "ada@example.com").await;
        let start = ada.get("/api/onboarding").await;
        assert_eq!(start.body["complete"], false);
        assert_eq!(start.body["steps"].as_array().map(Vec::len), Some(4));
        let first = ada
            .post("/api/onboarding/backup_codes_saved/complete", json!({}))
            .await;
        assert_eq!(first.status, 200, "{:?}", first.body);
        let at = first.body["steps"][1]["completed_at"].clone();
        let again = ada
            .post("/api/onboarding/backup_codes_saved/complete", json!({}))
            .await;
        assert_eq!(
            again.body["steps"][1]["completed_at"], at,
            "completing twice moved the time"
        );
        assert_eq!(
            ada.post("/api/onboarding/world_domination/complete", json!({}))
                .await
                .status,
            404
        );
        for step in ["passkey_added", "first_order", "first_backtest"] {
            ada.post(&format!("/api/onboarding/{step}/complete"), json!({}))
                .await;
        }
        assert_eq!(ada.get("/api/onboarding").await.body["complete"], true);
    }
);
