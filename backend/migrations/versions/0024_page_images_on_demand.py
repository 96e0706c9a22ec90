"""page images drawn on demand: the PDF each version's pages are drawn from

Ingest now draws only the first page as an image; the others are drawn when a reader
first opens them, from `document_versions.pdf_key`: the file itself for a PDF, or the PDF
LibreOffice made of an office file (kept in the object store's `converted/`). Versions
ingested before keep the page images they have; a PDF among them gets its own file as
`pdf_key`, so its later pages can be drawn too.

Revision ID: 0024
Revises: 0023
Create Date: 2027-02-20 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "document_versions",
        sa.Column("pdf_key", sa.String(length=200), nullable=False, server_default=""),
    )
    op.execute(
        "UPDATE document_versions SET pdf_key = file_key "
        "WHERE mime_type = 'application/pdf' AND page_images > 0"
    )


def downgrade() -> None:
    op.drop_column("document_versions", "pdf_key")
