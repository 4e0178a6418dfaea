"""The kiosk's side of the local API: wire models, the HTTP/SSE client and the threads that keep
station I/O off the Kivy main thread."""
