//! One error type for every handler: a JSON body `{code, message}` with a status that fits.
//! 5xx bodies say nothing of internals; the details go to the log.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use urbis_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    NotFound(String),
    /// Something that should not happen, whatever the request: 500, the details in the log.
    #[error("{0}")]
    Internal(String),
    #[error("parameter `{parameter}`: {message}")]
    BadParameter { parameter: &'static str, message: String },
    /// [`ApiError::BadParameter`] for a parameter named by the client (a field name).
    #[error("parameter `{parameter}`: {message}")]
    BadQuery { parameter: String, message: String },
    /// No usable credentials: 401 with `WWW-Authenticate: Bearer`.
    #[error("{0}")]
    Unauthorized(String),
    /// Credentials whose role may not do this: 403.
    #[error("{0}")]
    Forbidden(String),
    /// `If-Match` names a version that is not the current one: 412, with the current ETag.
    #[error("{message}")]
    PreconditionFailed { message: String, current_etag: Option<String> },
    #[error("the request body is larger than the limit of {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// The request cannot be done in the present state of what it names: 409.
    #[error("{0}")]
    Conflict(String),
    /// A written feature that does not fit its layer, with every problem and its field: 400, or
    /// 422 when only the geometry is at fault.
    #[error("{message}")]
    InvalidFeature { message: String, problems: Vec<urbis_core::Problem> },
}

impl ApiError {
    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::Store(StoreError::NotFound { .. }) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::Store(StoreError::DuplicateId { .. }) => (StatusCode::CONFLICT, "duplicate_id"),
            ApiError::Store(StoreError::UnknownField { .. }) => (StatusCode::BAD_REQUEST, "unknown_field"),
            ApiError::Store(StoreError::InvalidQuery { .. }) => (StatusCode::BAD_REQUEST, "invalid_query"),
            ApiError::Store(StoreError::InvalidFeature { .. }) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_feature"),
            ApiError::Store(StoreError::PreconditionFailed { .. }) | ApiError::PreconditionFailed { .. } => {
                (StatusCode::PRECONDITION_FAILED, "precondition_failed")
            }
            ApiError::Store(StoreError::UnknownUser { .. }) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::Store(StoreError::DuplicateUser { .. }) => (StatusCode::CONFLICT, "duplicate_user"),
            ApiError::Store(StoreError::InvalidUser { .. }) => (StatusCode::BAD_REQUEST, "invalid_user"),
            ApiError::Store(StoreError::Busy) => (StatusCode::SERVICE_UNAVAILABLE, "busy"),
            ApiError::Store(StoreError::Unsupported { .. }) => (StatusCode::NOT_IMPLEMENTED, "not_implemented"),
            ApiError::Store(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
            ApiError::BadParameter { .. } | ApiError::BadQuery { .. } => (StatusCode::BAD_REQUEST, "bad_parameter"),
            ApiError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::PayloadTooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            ApiError::UnsupportedMediaType(_) => (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            ApiError::InvalidFeature { problems, .. } if problems.iter().all(|p| p.field == "geometry") => {
                (StatusCode::UNPROCESSABLE_ENTITY, "invalid_feature")
            }
            ApiError::InvalidFeature { .. } => (StatusCode::BAD_REQUEST, "invalid_feature"),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let message = if status.is_server_error() {
            tracing::error!(error = %self, "request failed");
            "internal error; the server log has the details".to_string()
        } else {
            self.to_string()
        };
        let mut body = json!({ "code": code, "message": message });
        match &self {
            ApiError::BadParameter { parameter, .. } => body["parameter"] = json!(parameter),
            ApiError::BadQuery { parameter, .. } => body["parameter"] = json!(parameter),
            ApiError::InvalidFeature { problems, .. } => {
                body["parameter"] = json!(problems.first().map(|p| p.field.as_str()));
                body["errors"] = json!(problems);
            }
            _ => {}
        }
        let mut response = (status, Json(body)).into_response();
        let headers = response.headers_mut();
        match &self {
            ApiError::Unauthorized(_) => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"urbis\""));
            }
            ApiError::Store(StoreError::PreconditionFailed { current_etag, .. })
            | ApiError::PreconditionFailed { current_etag: Some(current_etag), .. } => {
                if let Ok(v) = HeaderValue::from_str(&format!("\"{current_etag}\"")) {
                    headers.insert(header::ETAG, v);
                }
            }
            _ => {}
        }
        response
    }
}
