-- Staff accounts (crates/urbis-store/src/users.rs): shared by every server on this database.
-- Passwords only as argon2id PHC strings; roles are checked by the server (auth.rs).

CREATE TABLE urbis_users (
    name text COLLATE "C" PRIMARY KEY,
    role text NOT NULL,
    centres text[] NOT NULL DEFAULT '{}',
    password_hash text NOT NULL,
    created timestamptz NOT NULL DEFAULT now(),
    disabled boolean NOT NULL DEFAULT false
);
