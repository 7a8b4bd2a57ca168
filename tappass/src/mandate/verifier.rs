//! [`MandateVerifier`] and its builder: the one place that decides whether a
//! token is a valid mandate.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use http::HeaderName;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};

use super::claims::{Claims, Mandate};
use super::keys::{self, KeyError, Keys};
use super::revocation::{HttpRevocation, Revocation, RevocationSource};
use super::{fetch, MandateRejection};
use crate::key::ApiKey;

/// The header a mandate travels in, unless configured otherwise.
pub const MANDATE_HEADER: &str = "x-tappass-mandate";
/// The largest token read: 8 KiB. A longer one is refused before parsing.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;
/// Where the JWK Set is, below the server's base URL.
const JWKS_PATH: &str = "/.well-known/jwks.json";
/// Where the revocation list is, below the server's base URL.
const REVOKED_PATH: &str = "/v1/mandates/revoked";
/// The server used when neither the builder nor `TAPPASS_URL` names one (the agent's default).
const DEFAULT_URL: &str = "http://localhost:9620";
/// How many verified tokens are cached.
const CACHE_ENTRIES: usize = 10_000;

/// Verifies mandates: ES256 signatures over TapPass's keys, expiry, audience,
/// issuer and revocation. Cheap to clone; clones share the key cache, the
/// revocation list and the cache of verified tokens.
///
/// Build one per service with [`MandateVerifier::builder`] and share it;
/// see the [module documentation](super) for the whole guide.
#[derive(Clone)]
pub struct MandateVerifier {
    inner: Arc<Inner>,
}

struct Inner {
    keys: Keys,
    validation: Validation,
    header: HeaderName,
    revocation: Option<Revocation>,
    /// Verified tokens until their `exp`: a repeated mandate costs a lookup.
    cache: RwLock<HashMap<Box<str>, Mandate>>,
}

impl MandateVerifier {
    /// Configures a verifier. By default it reads the keys from
    /// `TAPPASS_URL` + `/.well-known/jwks.json` and the revocation list from
    /// `TAPPASS_URL` + `/v1/mandates/revoked` with `TAPPASS_API_KEY`.
    pub fn builder() -> MandateVerifierBuilder {
        MandateVerifierBuilder::default()
    }

    /// The header mandates are read from (default `X-TapPass-Mandate`).
    pub fn header(&self) -> &HeaderName {
        &self.inner.header
    }

    /// Verifies `token` and returns the mandate it carries. It does not
    /// check capabilities: ask the [`Mandate`] with
    /// [`grants`](Mandate::grants), or use [`verify_for`](Self::verify_for).
    pub async fn verify(&self, token: &str) -> Result<Mandate, MandateRejection> {
        let inner = &*self.inner;
        if token.len() > MAX_TOKEN_BYTES {
            return Err(MandateRejection::invalid("it is over 8 KiB"));
        }
        if let Some(mandate) = inner.cached(token) {
            inner.check_revoked(&mandate).await?;
            return Ok(mandate);
        }
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| MandateRejection::invalid("it is not a JWS with a JSON header"))?;
        // The header is input, not configuration: only ES256 is ever accepted
        // (`decode` below checks it again against the fixed validation).
        if header.alg != Algorithm::ES256 {
            return Err(MandateRejection::invalid("it is not signed with ES256"));
        }
        let key = match &inner.keys {
            Keys::Pinned(key) => key.clone(),
            Keys::Jwks(jwks) => {
                let kid = header
                    .kid
                    .as_deref()
                    .ok_or(MandateRejection::invalid("its header names no `kid`"))?;
                jwks.key(kid).await.map_err(|e| match e {
                    KeyError::Unknown => {
                        MandateRejection::invalid("it names a key TapPass does not publish")
                    }
                    KeyError::Unavailable(e) => MandateRejection::TapPass(e),
                })?
            }
        };
        let data = jsonwebtoken::decode::<serde_json::Value>(token, &key, &inner.validation)
            .map_err(|e| classify(e.kind()))?;
        let claims = Claims::from_json(data.claims)
            .ok_or(MandateRejection::invalid("its claims are not a mandate's"))?;
        let mandate = Mandate::new(claims);
        inner.check_revoked(&mandate).await?;
        inner.remember(token, &mandate);
        Ok(mandate)
    }

    /// Verifies `token` and checks that it grants every capability of
    /// `required`, in order; the first one missing is named in the rejection.
    pub async fn verify_for(
        &self,
        token: &str,
        required: &[impl AsRef<str>],
    ) -> Result<Mandate, MandateRejection> {
        let mandate = self.verify(token).await?;
        require(&mandate, required)?;
        Ok(mandate)
    }

    /// Reads the mandate of a request's headers and verifies it:
    /// [`MandateRejection::Missing`] when there is none. Headers that repeat
    /// the mandate or hold a value that is not text are invalid.
    pub async fn verify_headers(
        &self,
        headers: &http::HeaderMap,
    ) -> Result<Mandate, MandateRejection> {
        match self.token(headers)? {
            Some(token) => self.verify(token).await,
            None => Err(self.missing()),
        }
    }

    /// The request's token, if it has one.
    pub(crate) fn token<'h>(
        &self,
        headers: &'h http::HeaderMap,
    ) -> Result<Option<&'h str>, MandateRejection> {
        let mut values = headers.get_all(&self.inner.header).iter();
        let Some(first) = values.next() else {
            return Ok(None);
        };
        if values.next().is_some() {
            return Err(MandateRejection::invalid("the mandate header is repeated"));
        }
        let token = first
            .to_str()
            .map_err(|_| MandateRejection::invalid("the mandate header is not text"))?
            .trim();
        // An empty header is no mandate, not an invalid one.
        Ok((!token.is_empty()).then_some(token))
    }

    pub(crate) fn missing(&self) -> MandateRejection {
        MandateRejection::Missing {
            header: self.inner.header.as_str().to_owned(),
        }
    }
}

/// Checks that `mandate` grants every capability of `required`.
pub(crate) fn require(
    mandate: &Mandate,
    required: &[impl AsRef<str>],
) -> Result<(), MandateRejection> {
    match required.iter().find(|c| !mandate.grants(c.as_ref())) {
        Some(missing) => Err(MandateRejection::Insufficient {
            required_capability: missing.as_ref().to_owned(),
        }),
        None => Ok(()),
    }
}

/// The rejection for what `jsonwebtoken` found wrong.
fn classify(kind: &ErrorKind) -> MandateRejection {
    MandateRejection::invalid(match kind {
        ErrorKind::ExpiredSignature | ErrorKind::ImmatureSignature => {
            return MandateRejection::Expired
        }
        ErrorKind::InvalidSignature => "its signature does not verify",
        ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
            "it is not signed with ES256"
        }
        ErrorKind::InvalidAudience => "it is meant for another audience",
        ErrorKind::InvalidIssuer => "another issuer signed it",
        ErrorKind::MissingRequiredClaim(_) => "it lacks a required claim (exp, iss or aud)",
        ErrorKind::InvalidEcdsaKey | ErrorKind::InvalidKeyFormat => {
            "the key it names is not a P-256 key"
        }
        _ => "it is malformed",
    })
}

impl Inner {
    fn cached(&self, token: &str) -> Option<Mandate> {
        let cache = self.cache.read().unwrap_or_else(PoisonError::into_inner);
        let mandate = cache.get(token)?;
        let now = jsonwebtoken::get_current_timestamp();
        (mandate.exp().saturating_add(self.validation.leeway) >= now).then(|| mandate.clone())
    }

    fn remember(&self, token: &str, mandate: &Mandate) {
        let mut cache = self.cache.write().unwrap_or_else(PoisonError::into_inner);
        if cache.len() >= CACHE_ENTRIES {
            let now = jsonwebtoken::get_current_timestamp();
            let leeway = self.validation.leeway;
            cache.retain(|_, m| m.exp().saturating_add(leeway) >= now);
            if cache.len() >= CACHE_ENTRIES {
                cache.clear();
            }
        }
        cache.insert(token.into(), mandate.clone());
    }

    async fn check_revoked(&self, mandate: &Mandate) -> Result<(), MandateRejection> {
        match &self.revocation {
            Some(revocation) => revocation.check(mandate.id()).await,
            None => Ok(()),
        }
    }
}

impl fmt::Debug for MandateVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &*self.inner;
        let mut d = f.debug_struct("MandateVerifier");
        match &inner.keys {
            Keys::Pinned(_) => d.field("keys", &"pinned"),
            Keys::Jwks(jwks) => d.field("jwks_url", &jwks.url().as_str()),
        };
        d.field("header", &inner.header)
            .field("audience", &inner.validation.aud)
            .field("issuer", &inner.validation.iss)
            .field("leeway", &inner.validation.leeway)
            .field("revocation", &inner.revocation)
            .finish()
    }
}

/// Where revoked ids come from.
enum RevocationChoice {
    /// TapPass's list (the default), at this URL or the default one.
    Http(Option<String>),
    Custom(Box<dyn RevocationSource>),
    Off,
}

/// Configures a [`MandateVerifier`]; see [`MandateVerifier::builder`].
///
/// An explicit setting wins over the environment (`TAPPASS_URL`,
/// `TAPPASS_API_KEY`).
#[must_use]
pub struct MandateVerifierBuilder {
    jwks_url: Option<String>,
    public_key_pem: Option<String>,
    audience: Vec<String>,
    issuer: Vec<String>,
    leeway: Duration,
    header: String,
    revocation: RevocationChoice,
    api_key: Option<ApiKey>,
    refresh: Duration,
    max_staleness: Duration,
    min_jwks_refetch: Duration,
    jwks_max_age: Duration,
    cold_start_wait: Duration,
}

impl Default for MandateVerifierBuilder {
    fn default() -> Self {
        MandateVerifierBuilder {
            jwks_url: None,
            public_key_pem: None,
            audience: Vec::new(),
            issuer: Vec::new(),
            leeway: Duration::from_secs(5),
            header: MANDATE_HEADER.to_owned(),
            revocation: RevocationChoice::Http(None),
            api_key: None,
            refresh: Duration::from_secs(30),
            max_staleness: Duration::from_secs(120),
            min_jwks_refetch: Duration::from_secs(10),
            jwks_max_age: Duration::from_secs(600),
            cold_start_wait: Duration::from_secs(3),
        }
    }
}

impl fmt::Debug for MandateVerifierBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MandateVerifierBuilder")
            .field("jwks_url", &self.jwks_url)
            .field("pinned_key", &self.public_key_pem.is_some())
            .field("audience", &self.audience)
            .field("issuer", &self.issuer)
            .field("leeway", &self.leeway)
            .field("header", &self.header)
            .field("api_key", &self.api_key)
            .finish_non_exhaustive()
    }
}

impl MandateVerifierBuilder {
    /// The JWK Set to read TapPass's keys from (default: `TAPPASS_URL` +
    /// `/.well-known/jwks.json`). Fetched on the first mandate, cached, and
    /// fetched again when a mandate names a key it does not hold.
    pub fn jwks_url(mut self, url: impl Into<String>) -> Self {
        self.jwks_url = Some(url.into());
        self
    }

    /// Pins TapPass's public key (PEM, `-----BEGIN PUBLIC KEY-----`, P-256)
    /// instead of fetching the JWK Set: no network for keys, for air-gapped
    /// deployments. A rotation then needs a new configuration.
    pub fn public_key_pem(mut self, pem: impl Into<String>) -> Self {
        self.public_key_pem = Some(pem.into());
        self
    }

    /// Accepts only mandates whose `aud` names this service. Without an
    /// audience, a mandate that has an `aud` is refused: it was meant for a
    /// service that says who it is.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience.push(audience.into());
        self
    }

    /// Accepts only mandates whose `iss` is this (TapPass's base URL).
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer.push(issuer.into());
        self
    }

    /// The clock skew tolerated on `exp` and `nbf` (default 5 s).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// The request header the mandate is read from (default `X-TapPass-Mandate`).
    pub fn header(mut self, name: impl Into<String>) -> Self {
        self.header = name.into();
        self
    }

    /// Where TapPass's list of revoked mandates is, read with the API key.
    /// The default is beside the JWK Set when [`jwks_url`](Self::jwks_url)
    /// names one (`{base}/.well-known/jwks.json` gives
    /// `{base}/v1/mandates/revoked`), else `TAPPASS_URL` +
    /// `/v1/mandates/revoked`. [`build`](Self::build) refuses a verifier that
    /// cannot tell where it is.
    pub fn revocation_url(mut self, url: impl Into<String>) -> Self {
        self.revocation = RevocationChoice::Http(Some(url.into()));
        self
    }

    /// Reads revoked ids from `source` instead of TapPass.
    pub fn revocation(mut self, source: impl RevocationSource) -> Self {
        self.revocation = RevocationChoice::Custom(Box::new(source));
        self
    }

    /// Checks no revocation: a revoked mandate is accepted until it expires.
    /// The verifier then needs no API key and accepts mandates without a
    /// `mandate_id`.
    pub fn no_revocation(mut self) -> Self {
        self.revocation = RevocationChoice::Off;
        self
    }

    /// The API key the revocation list is read with (default `TAPPASS_API_KEY`).
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(ApiKey::new(key));
        self
    }

    /// How often the revocation list is refreshed in the background (default 30 s).
    pub fn revocation_refresh(mut self, every: Duration) -> Self {
        self.refresh = every;
        self
    }

    /// How old the revocation list may grow when refreshes fail before every
    /// mandate is refused with `503 governance_unavailable` (default 120 s).
    pub fn max_revocation_staleness(mut self, max: Duration) -> Self {
        self.max_staleness = max;
        self
    }

    /// The shortest time between two fetches of the JWK Set (default 10 s):
    /// however many unknown `kid`s arrive, the set is fetched at most once
    /// per interval. A `kid` that arrives while the interval holds the next
    /// fetch back is `503 governance_unavailable` (it could be a key TapPass
    /// has just rotated to), never `403`; after a failed fetch the verifier
    /// retries sooner, with backoff.
    pub fn min_jwks_refetch(mut self, min: Duration) -> Self {
        self.min_jwks_refetch = min;
        self
    }

    /// How old the cached JWK Set may grow before it is fetched again, in
    /// the background, while requests go on with the cached keys (default
    /// 10 minutes): a key TapPass stops publishing stops being trusted
    /// within about this time.
    pub fn jwks_max_age(mut self, max_age: Duration) -> Self {
        self.jwks_max_age = max_age;
        self
    }

    /// How long a request waits for the JWK Set or the revocation list when
    /// none could be fetched yet (a cold start, or a list past
    /// [`max_revocation_staleness`](Self::max_revocation_staleness)), while
    /// the verifier retries with backoff (100 ms, doubling, at most 2 s
    /// apart); past it the request is refused with `503
    /// governance_unavailable` (default 3 s). A key or list server that
    /// comes back is used by the next retry, not after a whole refresh
    /// interval.
    pub fn cold_start_wait(mut self, wait: Duration) -> Self {
        self.cold_start_wait = wait;
        self
    }

    /// Builds the verifier. Nothing is fetched yet.
    ///
    /// Fails with [`Error::Config`](crate::Error::Config) for a header name
    /// that is not one, a URL that is not absolute http(s), a PEM that is not
    /// a P-256 public key, or revocation without an API key.
    pub fn build(self) -> Result<MandateVerifier, crate::error::Error> {
        let header = HeaderName::try_from(self.header.as_str()).map_err(|_| {
            crate::error::Error::config(format!(
                "`{}` is not a valid header name for mandates",
                self.header
            ))
        })?;
        let http = fetch::client()?;
        let base = || -> Result<String, crate::error::Error> {
            Ok(env("TAPPASS_URL")?
                .unwrap_or_else(|| DEFAULT_URL.to_owned())
                .trim_end_matches('/')
                .to_owned())
        };
        let keys = match (&self.public_key_pem, &self.jwks_url) {
            (Some(_), Some(_)) => {
                return Err(crate::error::Error::config(
                    "the mandate verifier was given both a JWKS URL and a pinned public key; choose one",
                ))
            }
            (Some(pem), None) => keys::pinned(pem)?,
            (None, url) => {
                let url = match url {
                    Some(url) => url.clone(),
                    None => format!("{}{JWKS_PATH}", base()?),
                };
                Keys::Jwks(Arc::new(keys::Jwks::new(
                    parse_url(&url, "JWKS")?,
                    http.clone(),
                    self.min_jwks_refetch,
                    self.jwks_max_age,
                    self.cold_start_wait,
                )))
            }
        };
        let default_revocation_url = match &self.revocation {
            RevocationChoice::Http(None) => Some(self.default_revocation_url(base)?),
            _ => None,
        };
        let source: Option<Box<dyn RevocationSource>> = match self.revocation {
            RevocationChoice::Off => None,
            RevocationChoice::Custom(source) => Some(source),
            RevocationChoice::Http(url) => {
                let url = match url {
                    Some(url) => url,
                    None => default_revocation_url.unwrap_or_default(),
                };
                let key = match self.api_key {
                    Some(key) => key,
                    None => env("TAPPASS_API_KEY")?.map(ApiKey::new).ok_or_else(|| {
                        crate::error::Error::config(
                            "checking revoked mandates needs an API key: set TAPPASS_API_KEY or `.api_key(..)`, or choose `.no_revocation()` to accept a revoked mandate until it expires",
                        )
                    })?,
                };
                Some(Box::new(HttpRevocation {
                    url: parse_url(&url, "revocation")?,
                    key,
                    http,
                }))
            }
        };
        let revocation = source.map(|source| {
            Revocation::new(
                source,
                self.refresh.max(Duration::from_millis(10)),
                self.max_staleness,
                self.cold_start_wait,
            )
        });
        let mut validation = Validation::new(Algorithm::ES256);
        validation.leeway = self.leeway.as_secs();
        validation.validate_nbf = true;
        validation.validate_exp = true;
        let mut required = vec!["exp"];
        if !self.audience.is_empty() {
            validation.set_audience(&self.audience);
            required.push("aud");
        }
        if !self.issuer.is_empty() {
            validation.set_issuer(&self.issuer);
            required.push("iss");
        }
        validation.set_required_spec_claims(&required);
        Ok(MandateVerifier {
            inner: Arc::new(Inner {
                keys,
                validation,
                header,
                revocation,
                cache: RwLock::default(),
            }),
        })
    }
}

impl MandateVerifierBuilder {
    /// Where the revocation list is when `.revocation_url(..)` does not say:
    /// beside the JWK Set when one was named (`{base}/.well-known/jwks.json`
    /// gives `{base}/v1/mandates/revoked`), else at `TAPPASS_URL`, else at
    /// the default server, as the JWK Set is. A verifier that could never
    /// reach its list (a pinned key and no `TAPPASS_URL`, a JWK Set
    /// elsewhere than its well-known path) is a configuration error naming
    /// the setting, not a `503` on every request.
    fn default_revocation_url(
        &self,
        base: impl Fn() -> Result<String, crate::error::Error>,
    ) -> Result<String, crate::error::Error> {
        const HOW: &str = "set `.revocation_url(..)` (or TAPPASS_URL), or choose `.no_revocation()` to accept a revoked mandate until it expires";
        if let Some(jwks) = &self.jwks_url {
            let jwks = parse_url(jwks, "JWKS")?;
            return match jwks.as_str().strip_suffix(JWKS_PATH) {
                Some(base) if jwks.query().is_none() => Ok(format!("{base}{REVOKED_PATH}")),
                _ => Err(crate::error::Error::config(format!(
                    "the mandate verifier cannot tell where the list of revoked mandates is: the JWK Set URL `{jwks}` does not end in `{JWKS_PATH}`; {HOW}"
                ))),
            };
        }
        if self.public_key_pem.is_some() && env("TAPPASS_URL")?.is_none() {
            return Err(crate::error::Error::config(format!(
                "the mandate verifier has a pinned key but no TapPass server to read the list of revoked mandates from; {HOW}"
            )));
        }
        Ok(format!("{}{REVOKED_PATH}", base()?))
    }
}

fn parse_url(url: &str, what: &str) -> Result<url::Url, crate::error::Error> {
    url::Url::parse(url)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.has_host())
        .ok_or_else(|| {
            crate::error::Error::config(format!(
                "the mandate {what} URL `{url}` is not an absolute http(s) URL"
            ))
        })
}

/// An environment variable; unset or empty is `None`.
fn env(name: &str) -> Result<Option<String>, crate::error::Error> {
    match std::env::var(name) {
        Ok(v) if v.trim().is_empty() => Ok(None),
        Ok(v) => Ok(Some(v.trim().to_owned())),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => Err(crate::error::Error::config(format!(
            "{name} is not valid UTF-8"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mandate(exp: u64) -> Mandate {
        Mandate::new(Claims::from_json(serde_json::json!({ "exp": exp })).expect("claims"))
    }

    /// The cache of verified tokens never grows past its bound: a full cache
    /// drops its expired entries first and keeps the valid ones, and one
    /// still full of valid entries starts over rather than grow.
    #[test]
    fn the_cache_of_verified_tokens_stays_bounded_dropping_expired_entries_first() {
        let verifier = MandateVerifier::builder()
            .jwks_url("http://127.0.0.1:9/.well-known/jwks.json")
            .no_revocation()
            .build()
            .expect("a verifier");
        let inner = &*verifier.inner;
        let len = || inner.cache.read().unwrap().len();
        let holds = |token: &str| inner.cache.read().unwrap().contains_key(token);
        let now = jsonwebtoken::get_current_timestamp();
        let later = now + 3_600;

        inner.remember("expired", &mandate(now - 3_600));
        for i in 0..CACHE_ENTRIES - 1 {
            inner.remember(&format!("valid-{i}"), &mandate(later));
        }
        assert_eq!(len(), CACHE_ENTRIES, "filled to the bound, nothing dropped");
        assert!(
            holds("expired"),
            "nothing is pruned before the cache is full"
        );

        inner.remember("one-more", &mandate(later));
        assert_eq!(len(), CACHE_ENTRIES, "the expired entry made room");
        assert!(!holds("expired"));
        assert!(
            holds("valid-0") && holds("one-more"),
            "valid entries are kept"
        );

        inner.remember("overflow", &mandate(later));
        assert_eq!(len(), 1, "full of valid entries: started over");
        assert!(holds("overflow"));
    }
}
