"""Pure builders: argv for external tools and files for other programs, rendered from templates/."""
