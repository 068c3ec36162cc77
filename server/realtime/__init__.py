"""Live delivery over Socket.IO: hub, transport, input guard, fan-out, catch-up, socket requests."""
