"""Live delivery over Socket.IO: hub, websocket transport, fan-out, catch-up, socket requests."""
