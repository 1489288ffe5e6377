//! Who signed in: the CRM's current user, asked with the new token.
//!
//! Zoho's token answer names no user, so the sign-in asks
//! `GET {api_domain}/crm/v8/users?type=CurrentUser` (Zoho CRM API v8, "Get Users"), the smallest
//! call that says whose token it is. The user's CRM id keys the grant in the token store.

use serde_json::Value;
use zoho_oauth::{Authorized, Flow};

use crate::auth::{SignedInUser, data_center_name};
use crate::error::Error;

/// The path of the current-user request, under the session's API domain.
pub(crate) const CURRENT_USER_PATH: &str = "/crm/v8/users?type=CurrentUser";

pub(crate) async fn current_user(session: &Flow<Authorized>) -> Result<SignedInUser, Error> {
    let url = session.api_url(CURRENT_USER_PATH)?;
    let request = http::Request::get(url.as_str())
        .header(http::header::ACCEPT, "application/json")
        .body(Vec::new())
        .expect("a GET with a parsed URL and a static header is a valid request");
    let response = session.send(request).await?;
    if response.status() != http::StatusCode::OK {
        return Err(Error::CurrentUser { status: response.status().as_u16() });
    }
    read(response.body(), &session.accounts_server())
}

/// Reads the first user of a "Get Users" answer; the id may be a string (as Zoho sends it) or a number.
fn read(body: &[u8], accounts_server: &str) -> Result<SignedInUser, Error> {
    let answer: Value = serde_json::from_slice(body).map_err(|_| Error::NoCurrentUser)?;
    let user =
        answer.get("users").and_then(Value::as_array).and_then(|users| users.first()).ok_or(Error::NoCurrentUser)?;
    let text = |name: &str| user.get(name).and_then(Value::as_str).map(str::to_owned);
    let id = match user.get("id") {
        Some(Value::String(id)) if !id.is_empty() => id.clone(),
        Some(Value::Number(id)) => id.to_string(),
        _ => return Err(Error::NoCurrentUser),
    };
    Ok(SignedInUser {
        full_name: text("full_name").unwrap_or_default(),
        email: text("email").unwrap_or_default(),
        data_center: data_center_name(text("data_center").as_deref(), accounts_server),
        accounts_server: accounts_server.to_owned(),
        id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_zoho_s_answer_and_derives_the_data_center() {
        let body = br#"{"users":[{"id":"4150868000000225013","full_name":"Ada","email":"ada@example.eu"}]}"#;
        let user = read(body, "https://accounts.zoho.eu").expect("a user");
        assert_eq!(user.id, "4150868000000225013");
        assert_eq!(user.full_name, "Ada");
        assert_eq!(user.data_center, "eu");
    }

    #[test]
    fn refuses_an_answer_without_a_user_id() {
        assert!(matches!(read(br#"{"users":[]}"#, "https://accounts.zoho.com"), Err(Error::NoCurrentUser)));
        assert!(matches!(read(br#"{"users":[{"id":""}]}"#, "https://accounts.zoho.com"), Err(Error::NoCurrentUser)));
        assert!(matches!(read(b"not json", "https://accounts.zoho.com"), Err(Error::NoCurrentUser)));
    }
}
