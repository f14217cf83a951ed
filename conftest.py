pytest_plugins = ["tests.support.servers", "tests.support.s3", "tests.support.backup_db"]
