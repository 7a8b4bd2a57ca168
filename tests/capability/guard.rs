//! `#[tappass::guard]` at run time: a plain async tool function checked
//! against the credentials of its task's scope.

use tappass::capability::{
    Authorizer, CapabilityRejection, CapabilityToken, ConstraintSet, Credentials, SigningKey,
};
use tappass::GovernanceError as _;

use super::routes::{agent, authorizer, control_plane, token};

#[tappass::guard(tool = "read_file")]
async fn read_file(
    #[constraint(Subpath("/data/reports"))] path: &str,
) -> Result<String, tappass::Error> {
    Ok(format!("contents of {path}"))
}

/// The tool is the function's name; every parameter is an argument.
#[tappass::guard]
async fn search(q: String, index: &str, limit: u32) -> Result<usize, CapabilityRejection> {
    Ok(q.len() + index.len() + limit as usize)
}

/// A guarded method: `self` is no argument.
struct Files;
impl Files {
    #[tappass::guard(tool = "read_file")]
    async fn read(&self, path: &str) -> Result<String, tappass::Error> {
        Ok(path.to_owned())
    }
}

fn credentials() -> Credentials {
    Credentials::new(authorizer(), token(), agent())
}

#[tokio::test]
async fn a_guarded_function_runs_only_for_a_call_its_token_grants() {
    tappass::capability::scope(credentials(), async {
        assert_eq!(
            read_file("/data/reports/q3.pdf").await.unwrap(),
            "contents of /data/reports/q3.pdf"
        );
        // The token allows /data; the code's own constraint, /data/reports.
        let refused = read_file("/data/hr/salaries.csv").await.unwrap_err();
        assert_eq!(refused.code(), "capability_constraint_violated");
        assert_eq!(refused.status(), 403);
        // The token itself refuses /etc.
        let refused = read_file("/etc/passwd").await.unwrap_err();
        assert_eq!(refused.code(), "capability_constraint_violated");
        assert_eq!(Files.read("/data/x").await.unwrap(), "/data/x");

        // `search` (its name) with its three arguments: the token's
        // constraints name `q` and `index`, so `limit` is unknown.
        let refused = search("rust".into(), "docs", 10).await.unwrap_err();
        assert!(
            matches!(refused, CapabilityRejection::ConstraintViolated { ref argument, .. } if argument.as_deref() == Some("limit")),
            "{refused:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn outside_a_scope_or_with_another_holders_key_every_call_is_refused() {
    let refused = read_file("/data/reports/q3.pdf").await.unwrap_err();
    assert_eq!(refused.code(), "governance_misconfigured");
    assert_eq!(refused.status(), 500);
    assert!(refused.to_string().contains("tappass::capability::scope"));

    // A key that is not the token's holder: its proof does not verify.
    let thief = Credentials::new(authorizer(), token(), SigningKey::from_bytes(&[99; 32]));
    let refused = tappass::capability::scope(thief, read_file("/data/reports/q3.pdf"))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), "capability_pop_invalid");

    // An authorizer that trusts another root.
    let elsewhere = Authorizer::builder()
        .trusted_root(SigningKey::from_bytes(&[98; 32]).public_key())
        .build()
        .unwrap();
    let refused = tappass::capability::scope(
        Credentials::new(elsewhere, token(), agent()),
        read_file("/data/reports/q3.pdf"),
    )
    .await
    .unwrap_err();
    assert_eq!(refused.code(), "capability_invalid");
}

#[tokio::test]
async fn arguments_of_every_json_type_are_signed_and_checked() {
    #[derive(serde::Serialize)]
    struct Filter {
        tag: String,
    }
    #[tappass::guard(tool = "query")]
    async fn query(
        #[constraint(Exact("prod"))] table: &str,
        filter: Filter,
        ids: Vec<u64>,
    ) -> Result<String, tappass::Error> {
        Ok(format!("{table}:{}:{ids:?}", filter.tag))
    }
    let grant = CapabilityToken::builder()
        .holder(agent().public_key())
        .tool("query", ConstraintSet::new().allow_unknown(true))
        .trust_score(80)
        .sign(&control_plane())
        .unwrap();
    let credentials = Credentials::new(authorizer(), grant, agent());
    tappass::capability::scope(credentials, async {
        let filter = || Filter { tag: "a".into() };
        assert_eq!(
            query("prod", filter(), vec![1, 2]).await.unwrap(),
            "prod:a:[1, 2]"
        );
        let refused = query("dev", filter(), vec![]).await.unwrap_err();
        assert_eq!(refused.code(), "capability_constraint_violated");
    })
    .await;
}
