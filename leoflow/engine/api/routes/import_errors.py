"""Routes: import_errors (to be written)."""

from fastapi import APIRouter

router = APIRouter()
