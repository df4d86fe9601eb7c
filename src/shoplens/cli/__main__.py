from shoplens.cli import app

app()
