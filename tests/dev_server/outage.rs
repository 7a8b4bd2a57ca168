//! An outage on purpose: `DevServer::set_available(false)` makes every API
//! route answer 503 without a decision, `Availability::Hanging` makes them
//! hang until the server is available again, and the console keeps
//! answering; its Availability page does the same with a form that needs
//! the console's token, sent to this machine.

use std::time::Duration;

use scraper::{Html, Selector};
use serde_json::Value;
use tappass_dev::{Availability, DevServer};

use super::support::bounded;

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn health(server: &DevServer) -> (u16, Value) {
    let response = client()
        .get(format!("{}/health", server.url()))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (
        status,
        serde_json::from_str(&response.text().await.unwrap()).unwrap(),
    )
}

async fn console(server: &DevServer, path: &str) -> (u16, Html) {
    let response = client()
        .get(format!("{}{path}", server.url()))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (
        status,
        Html::parse_document(&response.text().await.unwrap()),
    )
}

#[tokio::test]
async fn unavailable_answers_503_hanging_never_answers_and_the_console_stays_up() {
    bounded(async {
        let server = DevServer::start().await.unwrap();
        assert_eq!(health(&server).await.0, 200);

        server.set_available(false);
        assert_eq!(server.availability(), Availability::Unavailable);
        let (status, body) = health(&server).await;
        assert_eq!(status, 503);
        assert!(
            body.get("decision").is_none() && body.get("blocked_by").is_none(),
            "{body}"
        );
        let agent = tappass::Agent::builder(server.url())
            .api_key("tp_outage")
            .max_retries(0)
            .build()
            .unwrap();
        assert!(agent.chat("hello").await.unwrap_err().is_unavailable());
        let (status, page) = console(&server, "/").await;
        assert_eq!(status, 200, "the console keeps answering");
        let nav = Selector::parse("nav a[href='/availability']").unwrap();
        let badge = page
            .select(&nav)
            .next()
            .expect("the Availability link")
            .text()
            .collect::<String>();
        assert!(badge.contains("unavailable"), "{badge}");

        server.set_availability(Availability::Hanging);
        let url = format!("{}/health", server.url());
        let hung =
            tokio::spawn(async move { client().get(url).send().await.unwrap().status().as_u16() });
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!hung.is_finished(), "a hanging server does not answer");
        server.set_available(true);
        assert_eq!(
            hung.await.unwrap(),
            503,
            "a hung request answers once the hang ends"
        );
        assert_eq!(health(&server).await.0, 200);
    })
    .await;
}

#[tokio::test]
async fn the_console_toggle_needs_the_token_and_this_machine() {
    bounded(async {
        let server = DevServer::start().await.unwrap();
        let (status, page) = console(&server, "/availability").await;
        assert_eq!(status, 200);
        let token = page
            .select(&Selector::parse("form input[name=token]").unwrap())
            .next()
            .expect("a form")
            .value()
            .attr("value")
            .unwrap()
            .to_owned();
        let press = |form: String, host: Option<&'static str>| {
            let url = format!("{}/availability", server.url());
            async move {
                let mut request = client()
                    .post(url)
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(form);
                if let Some(host) = host {
                    request = request.header("host", host);
                }
                request.send().await.unwrap().status().as_u16()
            }
        };
        assert_eq!(
            press("state=unavailable".into(), None).await,
            403,
            "no token"
        );
        let wrong = "A".repeat(token.len());
        assert_eq!(
            press(format!("token={wrong}&state=unavailable"), None).await,
            403
        );
        assert_eq!(
            press(
                format!("token={token}&state=unavailable"),
                Some("rebound.example")
            )
            .await,
            403,
            "only at this machine"
        );
        assert_eq!(server.availability(), Availability::Available);
        assert_eq!(
            press(format!("token={token}&state=nonsense"), None).await,
            400
        );

        assert_eq!(
            press(format!("token={token}&state=unavailable"), None).await,
            303
        );
        assert_eq!(server.availability(), Availability::Unavailable);
        assert_eq!(health(&server).await.0, 503);
        assert_eq!(
            press(format!("token={token}&state=hanging"), None).await,
            303
        );
        assert_eq!(server.availability(), Availability::Hanging);
        assert_eq!(
            press(format!("token={token}&state=available"), None).await,
            303
        );
        assert_eq!(health(&server).await.0, 200);
    })
    .await;
}
