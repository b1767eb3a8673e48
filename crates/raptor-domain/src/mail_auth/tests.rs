//! The verdict rule on header values as real receiving servers write them.

use super::*;

const GOOGLE: &str = "mx.google.com";

fn ada() -> Email {
    Email::parse("Ada@Example.com").expect("valid")
}

fn judge(headers: &[(&str, &str)], trusted: &[&str]) -> SenderVerdict {
    let trusted: Vec<String> = trusted.iter().map(|s| (*s).to_owned()).collect();
    sender_verdict(&ada(), headers.iter().copied(), &trusted)
}

/// Postmark's SPF stamp (Mail::SPF wording) for a result and envelope sender.
fn postmark_spf(result: &str, envelope: &str) -> String {
    format!(
        "{result} (example.com: Sender is authorized to use '{envelope}' in 'mfrom' identity \
         (mechanism 'include:_spf.google.com' matched)) receiver=p-pm-inboundg02a-aws-useast1a; \
         identity=mailfrom; envelope-from=\"{envelope}\"; helo=mail-ed1-f45.google.com; \
         client-ip=209.85.208.45"
    )
}

const GMAIL_RESULTS: &str = "mx.google.com;\r\n       dkim=pass header.i=@example.com \
    header.s=20230601 header.b=Kx3fT1ab;\r\n       spf=pass (google.com: domain of \
    ada@example.com designates 209.85.220.41 as permitted sender) smtp.mailfrom=ada@example.com;\
    \r\n       dmarc=pass (p=NONE sp=NONE dis=NONE) header.from=example.com";

#[test]
fn spf_pass_for_the_from_domain_authenticates_and_every_other_spf_result_does_not() {
    let pass = postmark_spf("pass", "ada@example.com");
    assert_eq!(
        judge(&[("Received-SPF", &pass)], &[]),
        SenderVerdict::SpfAligned("example.com".into())
    );
    let upper = postmark_spf("Pass", "ADA@EXAMPLE.COM");
    assert!(judge(&[("received-spf", &upper)], &[]).is_authenticated());
    let pypolicyd = "Pass (sender SPF authorized) identity=mailfrom; client-ip=148.163.158.5; \
        helo=mx0b.example.com; envelope-from=ada@example.com; receiver=support@raxx.app ";
    assert!(judge(&[("Received-SPF", pypolicyd)], &[]).is_authenticated());

    for result in [
        "softfail",
        "fail",
        "neutral",
        "none",
        "temperror",
        "permerror",
    ] {
        let value = postmark_spf(result, "ada@example.com");
        let verdict = judge(&[("Received-SPF", &value)], &[]);
        assert_eq!(
            verdict,
            SenderVerdict::Unverified(format!("spf={result} (example.com)")),
            "{result}"
        );
    }
    let bare = "Fail (sender not SPF authorized) identity=mailfrom; client-ip=203.0.113.9; \
        helo=evil.example.net; envelope-from=ada@example.com; receiver=support@raxx.app";
    assert!(!judge(&[("Received-SPF", bare)], &[]).is_authenticated());
}

#[test]
fn no_verdict_at_all_is_unverified() {
    let none = SenderVerdict::Unverified("no SPF, DKIM or DMARC verdict".into());
    assert_eq!(judge(&[], &[]), none);
    assert_eq!(
        judge(&[("X-Spam-Status", "No"), ("Message-ID", "<a@b.c>")], &[]),
        none
    );
    // A Received-SPF with nothing readable in it is no pass either.
    assert!(!judge(&[("Received-SPF", "")], &[]).is_authenticated());
    assert!(!judge(&[("Received-SPF", "(just a comment)")], &[]).is_authenticated());
}

#[test]
fn spf_passes_only_for_the_from_domain_or_a_domain_aligned_with_it() {
    for (envelope, aligned) in [
        ("bounces+123@em.example.com", true),
        ("ada@example.com.", true),
        ("<ada@example.com>", true),
        ("bounce@esp-mailer.net", false),
        ("ada@notexample.com", false),
        ("ada@example.com.evil.net", false),
        ("<>", false),
    ] {
        let value = postmark_spf("pass", envelope);
        assert_eq!(
            judge(&[("Received-SPF", &value)], &[]).is_authenticated(),
            aligned,
            "{envelope}"
        );
    }
    // From a subdomain, the parent domain is aligned too.
    let from = Email::parse("ada@eu.example.com").expect("valid");
    let value = postmark_spf("pass", "ada@example.com");
    assert!(sender_verdict(&from, [("Received-SPF", value.as_str())], &[]).is_authenticated());
}

#[test]
fn only_the_topmost_received_spf_counts_and_a_helo_check_is_not_the_sender() {
    let real = postmark_spf("softfail", "ada@example.com");
    let forged = postmark_spf("pass", "ada@example.com");
    assert!(!judge(&[("Received-SPF", &real), ("Received-SPF", &forged)], &[]).is_authenticated());
    let helo = "pass (mail.example.com: 203.0.113.9 is authorized to use 'mail.example.com' in \
        'helo' identity (mechanism 'a' matched)) receiver=p-pm-inbound; identity=helo; \
        helo=mail.example.com; client-ip=203.0.113.9";
    assert_eq!(
        judge(&[("Received-SPF", helo)], &[]),
        SenderVerdict::Unverified("spf=pass (identity helo)".into())
    );
}

#[test]
fn authentication_results_count_only_from_a_trusted_server() {
    assert_eq!(
        judge(&[("Authentication-Results", GMAIL_RESULTS)], &[GOOGLE]),
        SenderVerdict::DmarcPass
    );
    // Anyone can write this header: untrusted, it is not read at all.
    assert!(!judge(&[("Authentication-Results", GMAIL_RESULTS)], &[]).is_authenticated());
    let forged = "inbound.postmarkapp.com; dmarc=pass header.from=example.com";
    assert!(!judge(&[("Authentication-Results", forged)], &[GOOGLE]).is_authenticated());
    // Microsoft writes no authserv-id: a header naming no server is never trusted.
    let microsoft = "spf=pass (sender IP is 40.107.22.53) smtp.mailfrom=example.com; dkim=pass \
        (signature was verified) header.d=example.com;dmarc=pass action=none \
        header.from=example.com;compauth=pass reason=100";
    assert!(!judge(&[("Authentication-Results", microsoft)], &["spf=pass", ""]).is_authenticated());
}

#[test]
fn the_first_trusted_authentication_results_wins_over_later_ones() {
    let real = "mx.google.com; dkim=fail header.d=example.com; spf=softfail \
        smtp.mailfrom=ada@example.com; dmarc=fail (p=REJECT) header.from=example.com";
    let forged = "mx.google.com; dmarc=pass header.from=example.com";
    let untrusted = "relay.example.net; dmarc=pass header.from=example.com";
    assert_eq!(
        judge(
            &[
                ("Authentication-Results", untrusted),
                ("Authentication-Results", real),
                ("Authentication-Results", forged),
            ],
            &[GOOGLE],
        ),
        SenderVerdict::DmarcFail
    );
}

#[test]
fn a_dmarc_failure_outweighs_a_passing_spf_and_dmarc_none_falls_back_to_dkim() {
    let pass = postmark_spf("pass", "ada@example.com");
    let failed = "mx.google.com; dmarc=fail header.from=example.com";
    assert_eq!(
        judge(
            &[("Authentication-Results", failed), ("Received-SPF", &pass)],
            &[GOOGLE]
        ),
        SenderVerdict::DmarcFail
    );
    let no_policy = "mx.google.com; dkim=pass header.d=example.com header.s=s1; \
        spf=pass smtp.mailfrom=bounce@esp-mailer.net; dmarc=none header.from=example.com";
    assert_eq!(
        judge(&[("Authentication-Results", no_policy)], &[GOOGLE]),
        SenderVerdict::DkimAligned("example.com".into())
    );
    let other_signer = "mx.google.com; dkim=pass header.d=esp-mailer.net; dkim=fail \
        header.d=example.com; spf=pass smtp.mailfrom=bounce@esp-mailer.net; dmarc=none";
    assert_eq!(
        judge(&[("Authentication-Results", other_signer)], &[GOOGLE]),
        SenderVerdict::Unverified(
            "dmarc=none; spf=pass (esp-mailer.net); dkim=pass (esp-mailer.net); \
             dkim=fail (example.com)"
                .into()
        )
    );
}

#[test]
fn a_dmarc_pass_for_another_from_domain_is_not_this_senders() {
    let other = "mx.google.com; dmarc=pass header.from=evil.example.net";
    assert_eq!(
        judge(&[("Authentication-Results", other)], &[GOOGLE]),
        SenderVerdict::Unverified("dmarc=pass (another domain)".into())
    );
}

#[test]
fn spamassassins_author_domain_signature_counts_from_the_topmost_header_only() {
    let tests = "DKIM_SIGNED,DKIM_VALID,DKIM_VALID_AU,RCVD_IN_DNSWL_NONE,SPF_HELO_NONE,SPF_PASS";
    assert_eq!(
        judge(&[("X-Spam-Tests", tests)], &[]),
        SenderVerdict::DkimAligned("example.com".into())
    );
    let real = "DKIM_SIGNED,DKIM_INVALID,SPF_SOFTFAIL";
    assert!(!judge(&[("X-Spam-Tests", real), ("X-Spam-Tests", tests)], &[]).is_authenticated());
    assert!(!judge(&[("X-Spam-Tests", "DKIM_VALID,DKIM_VALID_AUX")], &[]).is_authenticated());
}

#[test]
fn names_results_and_server_ids_are_read_without_regard_to_case() {
    let shouting =
        "MX.Google.COM; DKIM=PASS header.d=EXAMPLE.COM; DMARC=Pass HEADER.FROM=Example.Com";
    assert_eq!(
        judge(&[("authentication-results", shouting)], &[GOOGLE]),
        SenderVerdict::DmarcPass
    );
    let spaced = "mx.google.com 1; dmarc = pass reason=\"policy; ok\" header.from = example.com";
    assert_eq!(
        judge(&[("AUTHENTICATION-RESULTS", spaced)], &[" mx.google.com "]),
        SenderVerdict::DmarcPass
    );
    let none = "mx.google.com; none";
    assert!(!judge(&[("Authentication-Results", none)], &[GOOGLE]).is_authenticated());
}

#[test]
fn the_summary_says_how_and_is_bounded() {
    assert_eq!(
        SenderVerdict::DmarcPass.to_string(),
        "authenticated: dmarc=pass"
    );
    assert_eq!(
        SenderVerdict::SpfAligned("example.com".into()).to_string(),
        "authenticated: spf=pass (example.com)"
    );
    assert_eq!(
        SenderVerdict::DmarcFail.to_string(),
        "unverified: dmarc=fail"
    );
    let long = SenderVerdict::Unverified("é".repeat(400)).to_string();
    assert!(long.len() <= MAX_SUMMARY && long.starts_with("unverified: é"));
}
