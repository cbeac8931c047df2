//! One error type for every handler: a JSON body `{code, message}` with a status that fits.
//! 5xx bodies say nothing of internals; the details go to the log.

use axum::http::StatusCode;
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
    #[error("parameter `{parameter}`: {message}")]
    BadParameter { parameter: &'static str, message: String },
    /// [`ApiError::BadParameter`] for a parameter named by the client (a field name).
    #[error("parameter `{parameter}`: {message}")]
    BadQuery { parameter: String, message: String },
}

impl ApiError {
    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::Store(StoreError::NotFound { .. }) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::Store(StoreError::DuplicateId { .. }) => (StatusCode::CONFLICT, "duplicate_id"),
            ApiError::Store(StoreError::UnknownField { .. }) => (StatusCode::BAD_REQUEST, "unknown_field"),
            ApiError::Store(StoreError::InvalidQuery { .. }) => (StatusCode::BAD_REQUEST, "invalid_query"),
            ApiError::Store(StoreError::InvalidFeature { .. }) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_feature"),
            ApiError::Store(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::BadParameter { .. } | ApiError::BadQuery { .. } => (StatusCode::BAD_REQUEST, "bad_parameter"),
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
            _ => {}
        }
        (status, Json(body)).into_response()
    }
}
