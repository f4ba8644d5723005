"""Administrators' pages for importing existing signatories: upload, preview, errors, confirm."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import FormData, UploadFile

from app.auth.dependencies import require
from app.auth.models import User
from app.auth.roles import Permission
from app.db import DbSession
from app.errors import DomainError, NotFound
from app.i18n import _
from app.imports import parsing, service
from app.imports.parsing import ImportFileError
from app.web import FormState, PostedForm, check_csrf, csrf_error_message, redirect, render

router = APIRouter()
Admin = Annotated[User, Depends(require(Permission.IMPORT_SIGNATORIES))]
UploadKey = Annotated[str, Path(min_length=32, max_length=32, pattern="^[0-9a-f]{32}$")]
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
#: Errors listed on the page; the download has them all.
ERRORS_SHOWN = 200


async def _read_file_form(request: Request) -> FormData:
    """The posted form with its one file (spooled to disk by the form parser when large)."""
    return await request.form(max_files=1, max_fields=5)


FileForm = Annotated[FormData, Depends(_read_file_form)]


def _upload_page(
    request: Request, db: DbSession, form: FormState | None = None, status_code: int = 200
) -> HTMLResponse:
    return render(
        request,
        "imports/upload.html",
        {
            "form": form or FormState(),
            "batches": service.list_batches(db_session=db),
            "required": [parsing.COLUMN_LABELS[c] for c in parsing.REQUIRED_COLUMNS],
            "optional": [
                parsing.COLUMN_LABELS[c]
                for c in parsing.COLUMN_LABELS
                if c not in parsing.REQUIRED_COLUMNS
            ],
            "max_mb": service.MAX_UPLOAD_BYTES // 1_000_000,
        },
        status_code=status_code,
    )


@router.get("/admin/imports")
def imports_page(request: Request, db: DbSession, user: Admin) -> HTMLResponse:
    return _upload_page(request, db)


@router.post("/admin/imports")
def upload(request: Request, posted: FileForm, db: DbSession, user: Admin) -> Response:
    form = FormState()
    if not check_csrf(request, posted):
        form.add_error("file", csrf_error_message())
        return _upload_page(request, db, form, 400)
    file = posted.get("file")
    if not isinstance(file, UploadFile) or not file.filename:
        form.add_error("file", _("Choose the CSV or XLSX file of signatories to import"))
        return _upload_page(request, db, form, 400)
    try:
        saved = service.save_upload(
            var_dir=request.app.state.settings.var_dir,
            source=file.file,
            filename=file.filename,
            user_id=user.id,  # type: ignore[arg-type]
            sid=request.state.sid,
        )
    except DomainError as exc:
        form.add_error("file", exc.message)
        return _upload_page(request, db, form, 400)
    return redirect(request, f"/admin/imports/{saved.key}")


def _upload_of(request: Request, user: User, upload_key: str) -> service.Upload:
    """The file this admin uploaded in this session; anyone else's key is a 404."""
    found = service.get_upload(
        var_dir=request.app.state.settings.var_dir,
        key=upload_key,
        user_id=user.id,  # type: ignore[arg-type]
        sid=request.state.sid,
    )
    if found is None:
        raise NotFound()
    return found


def _preview_page(
    request: Request,
    db: DbSession,
    upload: service.Upload,
    preview: service.Preview,
    form: FormState | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    return render(
        request,
        "imports/preview.html",
        {
            "upload": upload,
            "preview": preview,
            "errors": preview.errors[:ERRORS_SHOWN],
            "form": form or FormState(),
        },
        status_code=status_code,
    )


def _unreadable(
    request: Request, db: DbSession, upload: service.Upload, exc: ImportFileError
) -> HTMLResponse:
    service.discard_upload(upload)
    form = FormState()
    form.add_error("file", str(exc))
    return _upload_page(request, db, form, 400)


@router.get("/admin/imports/{upload_key}")
def preview_page(request: Request, upload_key: UploadKey, db: DbSession, user: Admin) -> Response:
    upload = _upload_of(request, user, upload_key)
    try:
        preview = service.preview_file(
            db_session=db, path=upload.path, filename=upload.filename, sha256=upload.sha256
        )
    except ImportFileError as exc:
        return _unreadable(request, db, upload, exc)
    return _preview_page(request, db, upload, preview)


@router.get("/admin/imports/{upload_key}/errors.xlsx")
def errors_download(
    request: Request, upload_key: UploadKey, db: DbSession, user: Admin
) -> Response:
    upload = _upload_of(request, user, upload_key)
    try:
        preview = service.preview_file(
            db_session=db, path=upload.path, filename=upload.filename, sha256=upload.sha256
        )
        content = service.errors_workbook(path=upload.path, preview=preview)
    except ImportFileError as exc:
        return _unreadable(request, db, upload, exc)
    stem = upload.filename.rsplit(".", 1)[0].encode("ascii", "ignore").decode() or "import"
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in stem)[:80]
    return Response(
        content,
        media_type=XLSX_MEDIA_TYPE,
        headers={
            "content-disposition": f'attachment; filename="{safe}-errors.xlsx"',
            "cache-control": "no-store",
        },
    )


@router.post("/admin/imports/{upload_key}/confirm")
def confirm(
    request: Request, upload_key: UploadKey, posted: PostedForm, db: DbSession, user: Admin
) -> Response:
    upload = _upload_of(request, user, upload_key)
    form = FormState()
    if not check_csrf(request, posted):
        form.add_error("form", csrf_error_message())
    else:
        try:
            result = service.apply_file(
                db_session=db,
                path=upload.path,
                filename=upload.filename,
                actor=user,
                sha256=upload.sha256,
            )
        except ImportFileError as exc:
            return _unreadable(request, db, upload, exc)
        except DomainError as exc:
            form.add_error("form", exc.message)
        else:
            service.discard_upload(upload)
            counts = result.preview.counts
            if result.batch is None:
                message = _(
                    "Nothing was imported: every valid row of %(file)s is already in the register "
                    "as it is in the file.",
                    file=upload.filename,
                )
            else:
                message = _(
                    "%(file)s is imported: %(created)s establishments added, %(updated)s updated, "
                    "%(unchanged)s unchanged, %(errors)s rows with errors left out.",
                    file=upload.filename,
                    created=counts["create"],
                    updated=counts["update"],
                    unchanged=counts["unchanged"],
                    errors=counts["error"],
                )
            return redirect(request, "/admin/imports", flash=message)
    try:
        preview = service.preview_file(
            db_session=db, path=upload.path, filename=upload.filename, sha256=upload.sha256
        )
    except ImportFileError as exc:
        return _unreadable(request, db, upload, exc)
    return _preview_page(request, db, upload, preview, form, 400)
