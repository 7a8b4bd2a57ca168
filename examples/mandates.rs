//! Mandates: service A governs a tool call and service B checks the grant.
//!
//! ```text
//! cargo run --example mandates            # runs the demo, prints curl commands, waits for Ctrl-C
//! cargo run --example mandates -- --once  # runs the demo and exits
//! ```
//!
//! Service A (`POST /research`) asks TapPass whether its agent may call the
//! tool `search`; the `allow` carries a mandate, which A passes to service B
//! in `X-TapPass-Mandate` (`.with_mandate(..)`). Service B's `POST /search`
//! requires a valid mandate granting `tool:call:search`
//! (`RequireMandate`): B checks the signature against TapPass's published
//! keys, the expiry and the revocation list before it acts.
//!
//! The demo then sends B a request without a mandate, one with a forged
//! mandate (a real one whose payload was rewritten to grant everything) and
//! one with a mandate that was revoked, shows that each is refused, and
//! prints the same three as curl commands to try by hand.
//!
//! Unless `TAPPASS_URL` is set, it starts the local TapPass development server
//! in-process. Against a hosted TapPass (`TAPPASS_URL`, `TAPPASS_API_KEY`) the
//! revoked case is left out: revoking is the dev server's extension.

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{json, Value};
use tappass::mandate::{Mandate, MandateVerifier, RequireMandate};
use tappass::propagate::PropagateSession;
use tappass::Agent;
use tappass_dev::DevServer;

#[derive(Deserialize)]
struct Query {
    q: String,
}

/// Service B: acts only under a mandate for `tool:call:search`.
async fn search(mandate: Mandate, Json(query): Json<Query>) -> Json<Value> {
    Json(json!({
        "service": "B",
        "results": [format!("first hit for {:?}", query.q)],
        "mandate_id": mandate.id(),
        "granted_to": mandate.agent(),
    }))
}

fn service_b(verifier: MandateVerifier) -> Router {
    Router::new().route(
        "/search",
        post(search).route_layer(RequireMandate::new(verifier).capability("tool:call:search")),
    )
}

/// What service A needs: its agent and where B is.
#[derive(Clone)]
struct A {
    agent: Agent,
    client: reqwest::Client,
    b: String,
}

/// Service A: governs the tool call, then calls B with the mandate.
async fn research(
    State(a): State<A>,
    Json(query): Json<Value>,
) -> Result<Json<Value>, tappass::Error> {
    let verdict = a.agent.govern_tool("search", query.clone()).await?;
    let mandate = verdict.mandate().ok_or_else(|| {
        tappass::Error::Protocol("TapPass allowed the call without a mandate".into())
    })?;
    let answer = a
        .client
        .post(format!("{}/search", a.b))
        .propagate_session()
        .with_mandate(mandate)
        .json(&query)
        .send()
        .await
        .map_err(|e| tappass::Error::Protocol(format!("service B did not answer: {e}")))?;
    let status = answer.status().as_u16();
    let body: Value = answer.json().await.unwrap_or(Value::Null);
    Ok(Json(
        json!({"service": "A", "b_status": status, "b_answered": body}),
    ))
}

fn service_a(a: A) -> Router {
    Router::new()
        .route("/research", post(research))
        .with_state(a)
}

async fn serve(app: Router) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(addr)
}

/// One request the demo sends to B and how B answered it.
#[derive(Debug)]
pub struct Case {
    /// What was sent.
    pub name: &'static str,
    /// The mandate sent, if any.
    pub mandate: Option<String>,
    /// B's status.
    pub status: u16,
    /// B's `error` code, when it refused.
    pub error: Option<String>,
}

/// The running demo.
pub struct Demo {
    /// The embedded dev server, unless `TAPPASS_URL` names another TapPass.
    pub dev: Option<DevServer>,
    /// Service A's base URL.
    pub a: String,
    /// Service B's base URL.
    pub b: String,
}

/// Starts TapPass (unless `TAPPASS_URL` is set) and the two services.
pub async fn start() -> Result<Demo, Box<dyn std::error::Error>> {
    let hosted = std::env::var("TAPPASS_URL").is_ok_and(|url| !url.trim().is_empty());
    start_with(hosted).await
}

/// Starts the two services against the TapPass of `TAPPASS_URL` and
/// `TAPPASS_API_KEY` when `hosted`, else against an embedded dev server (with
/// no setting read from the environment).
pub async fn start_with(hosted: bool) -> Result<Demo, Box<dyn std::error::Error>> {
    let dev = if hosted {
        None
    } else {
        Some(DevServer::start().await?)
    };
    let (agent, verifier) = match &dev {
        Some(dev) => (
            Agent::new(dev.url(), "tp_mandates_agent")?,
            MandateVerifier::builder()
                .jwks_url(dev.jwks_url())
                .revocation_url(format!("{}/v1/mandates/revoked", dev.url()))
                .api_key("tp_mandates_service_b")
                .revocation_refresh(Duration::from_millis(250))
                .build()?,
        ),
        // TAPPASS_URL and TAPPASS_API_KEY configure both.
        None => (Agent::from_env()?, MandateVerifier::builder().build()?),
    };
    let b = format!("http://{}", serve(service_b(verifier)).await?);
    let a = A {
        agent,
        client: reqwest::Client::new(),
        b: b.clone(),
    };
    let a = format!("http://{}", serve(service_a(a)).await?);
    Ok(Demo { dev, a, b })
}

impl Demo {
    /// A mandate for `search`, as A gets one.
    async fn mandate(&self) -> Result<String, Box<dyn std::error::Error>> {
        let agent = match &self.dev {
            Some(dev) => Agent::new(dev.url(), "tp_mandates_agent")?,
            None => Agent::from_env()?,
        };
        let verdict = agent
            .govern_tool("search", json!({"q": "mandates"}))
            .await?;
        Ok(verdict
            .mandate()
            .ok_or("no mandate on the allow")?
            .to_owned())
    }

    async fn send(&self, name: &'static str, mandate: Option<String>) -> Case {
        let mut request = reqwest::Client::new()
            .post(format!("{}/search", self.b))
            .json(&json!({"q": "mandates"}));
        if let Some(m) = &mandate {
            request = request.with_mandate(m);
        }
        let (status, body) = match request.send().await {
            Ok(r) => (r.status().as_u16(), r.json().await.unwrap_or(Value::Null)),
            Err(_) => (0, Value::Null),
        };
        let error = body.get("error").and_then(Value::as_str).map(str::to_owned);
        Case {
            name,
            mandate,
            status,
            error,
        }
    }

    /// A's own call (which B accepts), then the three refusals.
    pub async fn run(&self) -> Result<(Value, Vec<Case>), Box<dyn std::error::Error>> {
        let through_a: Value = reqwest::Client::new()
            .post(format!("{}/research", self.a))
            .json(&json!({"q": "rust mandates"}))
            .send()
            .await?
            .json()
            .await?;

        let mut cases = vec![self.send("missing", None).await];

        // A real mandate whose payload now grants everything: the signature no longer fits.
        let real = self.mandate().await?;
        let parts: Vec<&str> = real.split('.').collect();
        let mut claims: Value =
            serde_json::from_slice(&B64.decode(parts.get(1).ok_or("not a JWS")?)?)?;
        claims["capabilities"] = json!([{"id": "*:*:*"}]);
        let forged = format!(
            "{}.{}.{}",
            parts[0],
            B64.encode(claims.to_string()),
            parts[2]
        );
        cases.push(self.send("forged", Some(forged)).await);

        if let Some(dev) = &self.dev {
            let doomed = self.mandate().await?;
            let accepted = self.send("revoked", Some(doomed.clone())).await;
            if accepted.status != 200 {
                return Err(format!("B refused a fresh mandate: {accepted:?}").into());
            }
            let id = dev
                .mandates()
                .last()
                .map(|m| m.mandate_id.clone())
                .unwrap_or_default();
            dev.revoke_mandate(&id);
            // B sees it at its next background refresh of the revocation list.
            let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
            let mut case = self.send("revoked", Some(doomed.clone())).await;
            while case.status == 200 && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(50)).await;
                case = self.send("revoked", Some(doomed.clone())).await;
            }
            cases.push(case);
        }
        Ok((through_a, cases))
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let once = std::env::args().any(|a| a == "--once");
    let demo = start().await?;
    match &demo.dev {
        Some(dev) => println!("TapPass development server at {}", dev.url()),
        None => println!("Using the TapPass server at TAPPASS_URL"),
    }
    println!(
        "Service A (governs `search`) on {}\nService B (requires tool:call:search) on {}\n",
        demo.a, demo.b
    );

    let (through_a, cases) = demo.run().await?;
    println!(
        "POST {}/research  ->  {}\n",
        demo.a,
        serde_json::to_string_pretty(&through_a)?
    );
    for case in &cases {
        println!(
            "{:<8} mandate  ->  {} {}",
            case.name,
            case.status,
            case.error.as_deref().unwrap_or("")
        );
    }

    println!("\nTry them yourself:");
    println!("    curl -si -X POST {}/research -H 'Content-Type: application/json' -d '{{\"q\":\"rust\"}}'", demo.a);
    for case in &cases {
        let header = match &case.mandate {
            Some(m) => format!(" -H 'X-TapPass-Mandate: {m}'"),
            None => String::new(),
        };
        println!(
            "    # {} mandate: {}\n    curl -si -X POST {}/search -H 'Content-Type: application/json' -d '{{\"q\":\"rust\"}}'{header}",
            case.name,
            case.error.as_deref().unwrap_or("?"),
            demo.b
        );
    }
    if once {
        return Ok(());
    }
    println!("\nPress Ctrl-C to stop.");
    tokio::signal::ctrl_c().await?;
    Ok(())
}
