"""Flask extension singletons."""

from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect

# Objects keep what this request wrote after commit instead of reloading it: another worker may
# delete the row in between, and the answer describes the write that succeeded (no reload, no 500).
db = SQLAlchemy(session_options={"expire_on_commit": False})
migrate = Migrate()
csrf = CSRFProtect()
