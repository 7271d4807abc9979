"""Blueprints: thin views that parse input, call workflow and render or answer JSON."""


def register_blueprints(app):
    from views import admin, auth, web
    app.register_blueprint(auth.bp)
    app.register_blueprint(web.bp)
    app.register_blueprint(admin.bp)
    from views import i18n
    app.register_blueprint(i18n.bp)
    from views import exports
    app.register_blueprint(exports.bp)
    from views import documents
    app.register_blueprint(documents.bp)
    from views import diagnostics, monitoring
    app.register_blueprint(diagnostics.bp)
    app.register_blueprint(monitoring.bp)
    from views import dashboard, help
    app.register_blueprint(dashboard.bp)
    app.register_blueprint(help.bp)
    from views import inbox
    app.register_blueprint(inbox.bp)
    from views import delegations
    app.register_blueprint(delegations.bp)
    from views import notifications
    app.register_blueprint(notifications.bp)
    from views import menu
    menu.init_app(app)
    from views.api import init_api
    init_api(app)
