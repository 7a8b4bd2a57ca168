//! The dev console in a real browser: headless Chromium, driven over
//! WebDriver by a chromedriver this test starts itself
//! (`support::browser`), opens the approvals page and clicks Approve; the
//! agent waiting on that approval then passes. Without Chromium the test
//! installs it where it may, or fails with the command to run: it never
//! skips.

use std::time::Duration;

use serde_json::json;
use tappass::agent::ApprovalState;
use tappass::{Agent, Error, GovernanceDecision};
use tappass_dev::DevServer;

use crate::support::browser::{Browser, ChromeDriver, PATIENCE};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clicking_approve_in_a_browser_lets_the_waiting_request_through() {
    let driver = ChromeDriver::start();
    let dev = DevServer::start().await.unwrap();
    let agent = Agent::builder(dev.url())
        .api_key("tp_browser")
        .build()
        .unwrap();
    let args = json!({"to": "cfo@example.com", "subject": "Q3 numbers"});

    // The agent asks; a rule wants a human.
    let asked = agent.govern_tool("send_email", args.clone()).await;
    let request_id = match asked {
        Err(Error::Governance(decision)) => match *decision {
            GovernanceDecision::ApprovalRequired(a) => a.request_id.expect("an approval id"),
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    };
    let waiting = {
        let agent = agent.clone();
        let id = request_id.clone();
        tokio::spawn(async move { agent.wait_for_approval(&id, Duration::from_secs(120)).await })
    };

    // A person opens the console and approves.
    let browser = Browser::open(&driver).await;
    browser.goto(&format!("{}/approvals", dev.url())).await;
    let what = browser.find(&format!("#{request_id} .what")).await;
    assert!(browser.text(&what).await.contains("send_email"));
    let approve = browser.find(&format!("#{request_id} button.approve")).await;
    browser.click(&approve).await;

    // The waiting agent hears of it, and the identical call now passes.
    let settled = tokio::time::timeout(PATIENCE, waiting)
        .await
        .expect("the wait ends")
        .unwrap()
        .unwrap();
    assert_eq!(settled.state, ApprovalState::Approved);
    let verdict = agent
        .govern_tool("send_email", args)
        .await
        .expect("the approved call passes");
    assert!(verdict.reason.contains(&request_id), "{}", verdict.reason);

    // The browser is back on the approvals page, nothing pending, the approval decided.
    assert_eq!(
        browser.current_url().await,
        format!("{}/approvals", dev.url())
    );
    assert_eq!(browser.count(".pending .approval").await, 0);
    let decided = browser.find("table.decided tbody tr td .badge").await;
    assert_eq!(browser.text(&decided).await, "approved");
    browser.quit().await;
    dev.shutdown().await;
}
