"""The Rota server: REST API, worker gateway, dispatcher and reaper."""
