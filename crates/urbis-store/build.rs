// `sqlx::migrate!` embeds the migrations when this crate compiles; rebuild it when they change.
fn main() {
    println!("cargo:rerun-if-changed=../../migrations");
}
