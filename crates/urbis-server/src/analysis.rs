//! Service-access analysis as jobs: `POST /analysis/coverage` starts a run (urbis-analysis) and
//! answers 202 with the job's URL; `GET /analysis/jobs/{id}` tells its state and progress,
//! `/analysis/jobs/{id}/events` streams the progress as Server-Sent Events, and
//! `/analysis/jobs/{id}/result` is the report once done, and `/analysis/jobs/{id}/features` its
//! isochrones and uncovered areas as GeoJSON (for the web view, without writing). A run asked to `write` replaces the
//! `coverage_results` layer and needs a planner's or an admin's credentials. Jobs live in this
//! process's memory.
//!
//! Anyone may run an analysis, so the server bounds what they cost it: [`RUNS_AT_ONCE`] run at a
//! time (a run already uses every core) and the others wait in turn (stage `queued`); at most
//! [`MAX_UNFINISHED`] jobs wait or run, past which a new one is refused with 503 and
//! `Retry-After`. A request equal to one still waiting is answered with that job, which reads the
//! store when it starts, as the new one would have.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::{watch, Semaphore};
use urbis_analysis::run::{run, validate, write, CoverageReport, CoverageRunRequest, RunProgress};

use urbis_core::crs::Crs;
use urbis_core::{Feature, LayerId};

use crate::features::BaseUrl;
use crate::geojson_out::GeoJsonFeature;
use crate::{ApiError, AppState};

/// How many finished jobs are kept (the oldest are forgotten first).
const KEEP_JOBS: usize = 100;
/// Runs at the same time; the others wait their turn.
pub const RUNS_AT_ONCE: usize = 1;
/// Jobs waiting or running at most; a new one past this is refused (503, `Retry-After`).
pub const MAX_UNFINISHED: usize = 8;
/// The stage of a job waiting for its turn.
const QUEUED: &str = "queued";

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    Running,
    Done,
    Failed,
}

/// What a client sees of a job.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobStatus {
    pub id: String,
    pub state: JobState,
    pub stage: String,
    pub done: u64,
    pub total: u64,
    pub error: Option<String>,
    /// Features written to `coverage_results`, when asked to write.
    pub written: Option<u64>,
}

impl JobStatus {
    /// A job just taken in, waiting for its turn.
    fn queued(id: &str) -> JobStatus {
        JobStatus {
            id: id.to_string(),
            state: JobState::Running,
            stage: QUEUED.into(),
            done: 0,
            total: 0,
            error: None,
            written: None,
        }
    }
}

struct Job {
    /// What was asked, to answer an equal request with this job while it waits.
    request: CoverageJobRequest,
    status: watch::Sender<JobStatus>,
    result: Mutex<Option<Arc<CoverageReport>>>,
    /// The run's isochrones and uncovered areas (not the per-parcel access points).
    features: Mutex<Option<Arc<Vec<Feature>>>>,
}

struct Jobs {
    jobs: Mutex<Vec<(String, Arc<Job>)>>,
    /// Turns to run.
    runs: Arc<Semaphore>,
}

impl Default for Jobs {
    fn default() -> Jobs {
        Jobs { jobs: Mutex::default(), runs: Arc::new(Semaphore::new(RUNS_AT_ONCE)) }
    }
}

/// What [`Jobs::admit`] decided.
enum Admission {
    /// A new job, to be started.
    New(Arc<Job>),
    /// An equal request already waits: its job answers this one too.
    Waiting(String),
    /// Too many jobs wait or run.
    Full,
}

impl Jobs {
    fn get(&self, id: &str) -> Option<Arc<Job>> {
        self.jobs.lock().ok()?.iter().find(|(k, _)| k == id).map(|(_, j)| j.clone())
    }

    /// Takes a request in: an equal one still waiting answers it, or a new job is listed if
    /// fewer than [`MAX_UNFINISHED`] wait or run (the oldest finished job makes room past
    /// [`KEEP_JOBS`]).
    fn admit(&self, request: CoverageJobRequest, initial: &JobStatus) -> Admission {
        let mut jobs = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
        if !request.write {
            let waiting = jobs
                .iter()
                .find(|(_, j)| !j.request.write && j.request.run == request.run && j.status.borrow().stage == QUEUED);
            if let Some((id, _)) = waiting {
                return Admission::Waiting(id.clone());
            }
        }
        if jobs.iter().filter(|(_, j)| j.status.borrow().state == JobState::Running).count() >= MAX_UNFINISHED {
            return Admission::Full;
        }
        if jobs.len() >= KEEP_JOBS {
            if let Some(i) = jobs.iter().position(|(_, j)| j.status.borrow().state != JobState::Running) {
                jobs.remove(i);
            }
        }
        let (status, _) = watch::channel(initial.clone());
        let job = Arc::new(Job { request, status, result: Mutex::new(None), features: Mutex::new(None) });
        jobs.push((initial.id.clone(), job.clone()));
        Admission::New(job)
    }
}

/// The body of `POST /analysis/coverage`: a run's request, and whether to write the results.
#[derive(Debug, Clone, Deserialize)]
struct CoverageJobRequest {
    #[serde(flatten)]
    run: CoverageRunRequest,
    #[serde(default)]
    write: bool,
}

struct Progress(watch::Sender<JobStatus>);

impl RunProgress for Progress {
    fn stage(&self, name: &str, done: u64, total: u64) {
        self.0.send_modify(|s| {
            s.stage = name.to_string();
            s.done = done;
            s.total = total;
        });
    }
}

pub fn routes() -> Router<AppState> {
    let jobs = Arc::new(Jobs::default());
    let (j1, j2, j3, j4, j5) = (jobs.clone(), jobs.clone(), jobs.clone(), jobs.clone(), jobs);
    Router::new()
        .route(
            "/analysis/coverage",
            post(move |root: BaseUrl, state: State<AppState>, headers: HeaderMap, body: axum::body::Bytes| {
                start(j1.clone(), root, state, headers, body)
            }),
        )
        .route("/analysis/jobs/{id}", get(move |root: BaseUrl, id: Path<String>| status(j2.clone(), root, id)))
        .route("/analysis/jobs/{id}/events", get(move |id: Path<String>| events(j3.clone(), id)))
        .route("/analysis/jobs/{id}/result", get(move |id: Path<String>| result(j4.clone(), id)))
        .route("/analysis/jobs/{id}/features", get(move |id: Path<String>| features(j5.clone(), id)))
}

async fn start(
    jobs: Arc<Jobs>,
    BaseUrl(root): BaseUrl,
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    let request: CoverageJobRequest = if body.iter().all(u8::is_ascii_whitespace) {
        CoverageJobRequest { run: CoverageRunRequest::default(), write: false }
    } else {
        serde_json::from_slice(&body).map_err(|e| ApiError::BadParameter {
            parameter: "body",
            message: format!("not a coverage request: {e}"),
        })?
    };
    validate(&request.run).map_err(|e| ApiError::BadParameter { parameter: "body", message: e.to_string() })?;
    if request.write {
        // Writing replaces a layer: an editor's or an admin's token.
        let value = match headers.get(header::AUTHORIZATION) {
            None => None,
            Some(v) => Some(v.to_str().map_err(|_| ApiError::Unauthorized("the token is not valid".into()))?),
        };
        let role = state.auth.check(value)?.role;
        if !role.may_edit() {
            return Err(ApiError::Forbidden(format!(
                "the role `{role}` may not write results; writing needs the role `planner` or `admin`"
            )));
        }
    }
    let id = uuid::Uuid::new_v4().to_string();
    let initial = JobStatus::queued(&id);
    let job = match jobs.admit(request.clone(), &initial) {
        Admission::New(job) => job,
        Admission::Waiting(id) => return Ok(accepted(&root, &id, JobState::Running)),
        Admission::Full => return Ok(busy()),
    };
    let store = state.store.clone();
    let runs = jobs.runs.clone();
    tokio::spawn(async move {
        let progress = Progress(job.status.clone());
        let outcome = async {
            // Our turn: the semaphore is never closed, so this waits and does not fail.
            let _turn = runs.acquire_owned().await.map_err(|e| format!("waiting for a turn: {e}"))?;
            progress.stage("starting", 0, 0);
            // The run is minutes of CPU on a large city: off the async workers, so that the
            // server keeps answering and the job's events stream every stage as it happens.
            let (store_for_run, run_request, run_progress) =
                (store.clone(), request.run.clone(), Progress(job.status.clone()));
            let handle = tokio::runtime::Handle::current();
            let result =
                tokio::task::spawn_blocking(move || handle.block_on(run(&*store_for_run, &run_request, &run_progress)))
                    .await
                    .map_err(|e| format!("the run stopped: {e}"))?
                    .map_err(|e| e.to_string())?;
            let written = if request.write {
                progress.stage("writing", 0, 1);
                Some(write(&*store, &result).await.map_err(|e| e.to_string())?)
            } else {
                None
            };
            Ok::<_, String>((result, written))
        }
        .await;
        match outcome {
            Ok((result, written)) => {
                if let Ok(mut r) = job.result.lock() {
                    *r = Some(Arc::new(result.report));
                }
                let mut shown = result.features;
                shown.retain(|f| matches!(f.text("kind"), Some("isochrone" | "uncovered")));
                if let Ok(mut f) = job.features.lock() {
                    *f = Some(Arc::new(shown));
                }
                job.status.send_modify(|s| {
                    s.state = JobState::Done;
                    s.stage = "done".into();
                    s.written = written;
                });
            }
            Err(e) => {
                tracing::warn!(job = %id_for_log(&job), error = %e, "coverage job failed");
                job.status.send_modify(|s| {
                    s.state = JobState::Failed;
                    s.error = Some(e);
                });
            }
        }
    });
    Ok(accepted(&root, &id, initial.state))
}

/// 202 naming the job that answers a request.
fn accepted(root: &str, id: &str, state: JobState) -> Response {
    let url = format!("{root}/analysis/jobs/{id}");
    let body = json!({ "id": id, "status": state, "href": url, "events": format!("{url}/events"), "result": format!("{url}/result") });
    (StatusCode::ACCEPTED, [(header::LOCATION, url)], Json(body)).into_response()
}

/// 503 with `Retry-After`: the queue is full.
fn busy() -> Response {
    let body = json!({ "code": "busy", "message": format!(
        "{MAX_UNFINISHED} analysis jobs are already waiting or running on this server; try again in a minute") });
    let mut response = (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response();
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("60"));
    response
}

fn id_for_log(job: &Job) -> String {
    job.status.borrow().id.clone()
}

fn not_found(id: &str) -> ApiError {
    ApiError::NotFound(format!("no analysis job `{id}` (jobs are kept in memory until the server stops)"))
}

async fn status(jobs: Arc<Jobs>, BaseUrl(root): BaseUrl, Path(id): Path<String>) -> Result<Response, ApiError> {
    let job = jobs.get(&id).ok_or_else(|| not_found(&id))?;
    let s = job.status.borrow().clone();
    let mut body = serde_json::to_value(&s).map_err(|e| ApiError::Internal(e.to_string()))?;
    if s.state == JobState::Done {
        body["result"] = json!(format!("{root}/analysis/jobs/{id}/result"));
    }
    Ok(Json(body).into_response())
}

async fn events(
    jobs: Arc<Jobs>,
    Path(id): Path<String>,
) -> Result<Sse<impl futures::Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let job = jobs.get(&id).ok_or_else(|| not_found(&id))?;
    let rx = job.status.subscribe();
    // Every change of the status as an event, ending with the final one.
    let stream = futures::stream::unfold((rx, false), |(mut rx, finished)| async move {
        if finished {
            return None;
        }
        let s = rx.borrow_and_update().clone();
        let last = s.state != JobState::Running;
        let event = Event::default().event(if last { "end" } else { "progress" }).json_data(&s).ok()?;
        if !last && rx.changed().await.is_err() {
            return Some((Ok(event), (rx, true)));
        }
        Some((Ok(event), (rx, last)))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

async fn result(jobs: Arc<Jobs>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let job = jobs.get(&id).ok_or_else(|| not_found(&id))?;
    if job.status.borrow().state == JobState::Done {
        let report = job.result.lock().ok().and_then(|r| r.clone()).ok_or_else(|| not_found(&id))?;
        return Ok(Json(&*report).into_response());
    }
    not_done(&job, &id)
}

/// The run's isochrones and uncovered areas as a GeoJSON FeatureCollection (WGS 84), the same
/// features a written run puts in `coverage_results`.
async fn features(jobs: Arc<Jobs>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let job = jobs.get(&id).ok_or_else(|| not_found(&id))?;
    if job.status.borrow().state != JobState::Done {
        return not_done(&job, &id);
    }
    let features = job.features.lock().ok().and_then(|f| f.clone()).ok_or_else(|| not_found(&id))?;
    let out: Vec<GeoJsonFeature> = features
        .iter()
        .map(|feature| GeoJsonFeature { layer: LayerId::CoverageResults, feature, crs: Crs::Crs84, only: None })
        .collect();
    let out = serde_json::to_value(&out).map_err(|e| ApiError::Internal(e.to_string()))?;
    let body = json!({ "type": "FeatureCollection", "features": out });
    Ok(([(header::CONTENT_TYPE, "application/geo+json")], Json(body)).into_response())
}

/// The answer for a job's result or features while it runs (409) or after it failed (422).
fn not_done(job: &Job, id: &str) -> Result<Response, ApiError> {
    let s = job.status.borrow().clone();
    match s.state {
        JobState::Done => Err(not_found(id)),
        JobState::Running => Ok((
            StatusCode::CONFLICT,
            Json(json!({ "code": "not_ready", "message": format!("job {id} is still running ({})", s.stage) })),
        )
            .into_response()),
        // The run's inputs were at fault (e.g. no usable centre): the job says why.
        JobState::Failed => Ok((
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({ "code": "analysis_failed", "message": s.error.unwrap_or_default() })),
        )
            .into_response()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(suggest: usize, write: bool) -> CoverageJobRequest {
        CoverageJobRequest { run: CoverageRunRequest { suggest, ..CoverageRunRequest::default() }, write }
    }

    fn status(id: &str) -> JobStatus {
        JobStatus::queued(id)
    }

    #[test]
    fn the_queue_is_bounded_and_equal_waiting_requests_share_a_job() {
        let jobs = Jobs::default();
        let mut started = vec![];
        for i in 0..MAX_UNFINISHED {
            match jobs.admit(request(i, false), &status(&format!("job-{i}"))) {
                Admission::New(job) => started.push(job),
                _ => panic!("job {i} was not admitted"),
            }
        }
        // An equal request while its job waits: that job.
        assert!(matches!(jobs.admit(request(3, false), &status("other")), Admission::Waiting(id) if id == "job-3"));
        // A new one past the bound: refused.
        assert!(matches!(jobs.admit(request(99, false), &status("job-99")), Admission::Full));
        // Once a job has started, an equal request is a job of its own (the store may have
        // changed since the first read it); a finished job makes room.
        started[3].status.send_modify(|s| s.stage = "starting".into());
        started[0].status.send_modify(|s| s.state = JobState::Done);
        assert!(
            matches!(jobs.admit(request(3, false), &status("job-3b")), Admission::New(job) if job.status.borrow().id == "job-3b")
        );
        assert!(matches!(jobs.admit(request(50, false), &status("x")), Admission::Full));
        // A request to write is never folded into another.
        started[1].status.send_modify(|s| s.state = JobState::Failed);
        assert!(matches!(jobs.admit(request(2, true), &status("write")), Admission::New(..)));
        assert_eq!(jobs.get("job-3b").unwrap().request.run.suggest, 3);
    }
}
