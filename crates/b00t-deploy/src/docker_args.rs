//! The arguments of `docker run` that a docker datum's `docker_args` holds, parsed into
//! the intent's fields. Every argument either has a translation or is an error naming it.
