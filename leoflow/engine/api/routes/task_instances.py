"""Routes: task_instances (to be written)."""

from fastapi import APIRouter

router = APIRouter()
