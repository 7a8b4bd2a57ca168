//! Telling a browser from an API client: the console answers pages where
//! the API answers JSON (the `audit_url`, an approval's link, `GET /`).

use http::{header, HeaderMap};

/// Whether the client asked for HTML: `Accept` names `text/html` with a
/// weight above zero and at least that of `application/json`. Browsers do;
/// API clients (no `Accept`, `*/*`, `application/json`) do not.
pub(crate) fn wants_html(headers: &HeaderMap) -> bool {
    let (mut html, mut json) = (0.0f32, 0.0f32);
    for accept in headers.get_all(header::ACCEPT) {
        let Ok(accept) = accept.to_str() else {
            continue;
        };
        for range in accept.split(',') {
            let mut parts = range.split(';');
            let media = parts.next().unwrap_or("").trim();
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            if media.eq_ignore_ascii_case("text/html") {
                html = html.max(q);
            } else if media.eq_ignore_ascii_case("application/json") {
                json = json.max(q);
            }
        }
    }
    html > 0.0 && html >= json
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    #[test]
    fn accept_headers_of_browsers_ask_for_html_and_of_api_clients_do_not() {
        let wants = |accept: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::ACCEPT, HeaderValue::from_str(accept).unwrap());
            wants_html(&headers)
        };
        assert!(wants(
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
        ));
        assert!(wants("TEXT/HTML"));
        assert!(wants("application/json;q=0.5, text/html"));
        assert!(!wants("*/*"));
        assert!(!wants("application/json"));
        assert!(!wants("text/html;q=0"));
        assert!(!wants("text/html;q=0.4, application/json"));
        assert!(!wants("text/html;q=nonsense;q=0"));
        assert!(!wants_html(&HeaderMap::new()));
    }
}
