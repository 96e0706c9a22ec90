"""Imports every table so metadata (and Alembic) sees them all."""

from sqlmodel import SQLModel

from backend.analytics.models import AnalyticsEvent, UsageReport
from backend.auth.models import (
    AccountEvent,
    EmailChange,
    Invitation,
    PasswordResetToken,
    PendingRegistration,
    RecoveryCode,
    SecondFactor,
    UserSession,
)
from backend.browse.models import BrowseCount, BrowseEntry
from backend.collections.models import Collection, Membership
from backend.documents.models import (
    AuditEntry,
    Document,
    DocumentPage,
    DocumentPerson,
    DocumentSubject,
    DocumentVersion,
    Subject,
)
from backend.imports.models import BulkImport
from backend.mail.models import OutboxMessage
from backend.search.models import (
    PgSearchDocument,
    PgSearchLexeme,
    PgSearchPage,
    PgSearchPosting,
    PgSearchStats,
    PgSearchWord,
    SavedSearch,
    SearchOutbox,
    SearchQuery,
    SearchQuerySearcher,
)
from backend.storage.models import ObjectDeletion
from backend.users.models import User

metadata = SQLModel.metadata

__all__ = [
    "AccountEvent",
    "AnalyticsEvent",
    "AuditEntry",
    "BrowseCount",
    "BrowseEntry",
    "BulkImport",
    "Collection",
    "Document",
    "DocumentPage",
    "DocumentPerson",
    "DocumentSubject",
    "DocumentVersion",
    "EmailChange",
    "Invitation",
    "Membership",
    "ObjectDeletion",
    "OutboxMessage",
    "PasswordResetToken",
    "PendingRegistration",
    "PgSearchDocument",
    "PgSearchLexeme",
    "PgSearchPage",
    "PgSearchPosting",
    "PgSearchStats",
    "PgSearchWord",
    "RecoveryCode",
    "SavedSearch",
    "SearchOutbox",
    "SearchQuery",
    "SearchQuerySearcher",
    "SecondFactor",
    "Subject",
    "UsageReport",
    "User",
    "UserSession",
    "metadata",
]
