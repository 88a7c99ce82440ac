"""Route modules: one per API family, each exposing an `APIRouter` named `router`."""
