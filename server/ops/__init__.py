"""Operations around the service: admission, auth, TLS, metrics, logs, reload, GC."""
