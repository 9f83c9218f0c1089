from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

FileName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=255, pattern=r"^[^/\\\x00-\x1f\"]+$"),
]


class FileIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: FileName
    content_type: Annotated[str, StringConstraints(max_length=128, pattern=r"^[a-z0-9.+-]+/[a-z0-9.+-]+$")]
    size: int = Field(ge=1, le=2**40)
    sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]


class FileOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: uuid.UUID
    project_id: uuid.UUID
    name: str
    content_type: str
    size: int
    sha256: str
    status: str
    detected_type: str | None
    reason: str | None
    created_at: datetime


class UploadOut(BaseModel):
    file: FileOut
    upload_url: str
    upload_method: str = "PUT"
    upload_headers: dict[str, str]


class DownloadOut(BaseModel):
    url: str
    expires_in: int


class InspectOut(BaseModel):
    sha256: str
    detected_type: str
    size: int
