//! Required context fields of Clarity-style custom routes.
//!
//! Clarity binds each custom webhook route to a workflow trigger that needs
//! named context parameters. A `POST` carries them as top-level members of a
//! JSON object body; a `GET` carries them in the query string. A field that is
//! absent (or JSON `null`) is missing.

use hookgate_events::JsonBody;

/// The declared fields that `query` (for `GET`) or `body` (otherwise) lacks,
/// in declared order. The body is read through the delivery's one
/// [`JsonBody`], which its event name is read from too.
pub(crate) fn missing_fields(
    required: &[String],
    is_get: bool,
    query: Option<&str>,
    body: &JsonBody<'_>,
) -> Vec<String> {
    if required.is_empty() {
        return Vec::new();
    }
    if is_get {
        let pairs: Vec<(String, String)> =
            url::form_urlencoded::parse(query.unwrap_or("").as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
        return required
            .iter()
            .filter(|field| !pairs.iter().any(|(k, _)| k == *field))
            .cloned()
            .collect();
    }
    // Not an object: nothing that was required is there.
    required
        .iter()
        .filter(|field| body.member(field).is_none_or(|raw| raw == "null"))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn missing_json_fields_come_back_in_declared_order() {
        let required = fields(&["app_identifier", "identity_id", "entitlement_id", "meta"]);
        let body = br#"{"meta": {}, "identity_id": null, "app_identifier": "x"}"#;
        assert_eq!(
            missing_fields(&required, false, None, &JsonBody::new(body)),
            fields(&["identity_id", "entitlement_id"])
        );
    }

    #[test]
    fn get_routes_read_the_query_string() {
        let required = fields(&["a", "b", "c"]);
        assert_eq!(
            missing_fields(&required, true, Some("c=1&a=%20"), &JsonBody::new(b"")),
            fields(&["b"])
        );
        assert_eq!(
            missing_fields(&required, true, None, &JsonBody::new(b"")),
            required
        );
    }

    #[test]
    fn a_body_that_is_not_an_object_lacks_everything() {
        let required = fields(&["a"]);
        assert_eq!(
            missing_fields(&required, false, None, &JsonBody::new(b"[1]")),
            required
        );
        assert_eq!(
            missing_fields(&required, false, None, &JsonBody::new(b"\xff")),
            required
        );
        assert!(missing_fields(&[], false, None, &JsonBody::new(b"\xff")).is_empty());
    }
}
