//! Git over smart HTTP for tests: `git http-backend` behind a small server on 127.0.0.1.
