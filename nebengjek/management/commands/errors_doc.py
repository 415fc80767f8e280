"""Write docs/errors.md from the error catalogues (each app's errors.py); --check fails when it is stale."""

from django.core.management.base import BaseCommand, CommandError

from nebengjek.error_catalogue import ERRORS_DOC, errors_doc


class Command(BaseCommand):
    help = "Generate docs/errors.md from the error catalogues (--check: fail when the file is out of date)."

    def add_arguments(self, parser):
        parser.add_argument("--check", action="store_true", help="Do not write; exit non-zero when stale.")

    def handle(self, *args, check=False, **options):
        wanted = errors_doc()
        current = ERRORS_DOC.read_text() if ERRORS_DOC.exists() else ""
        if check:
            if current != wanted:
                raise CommandError(f"{ERRORS_DOC} is stale: run `python manage.py errors_doc`.")
            self.stdout.write(f"{ERRORS_DOC} is up to date.")
            return
        ERRORS_DOC.write_text(wanted)
        self.stdout.write(f"wrote {ERRORS_DOC}")
