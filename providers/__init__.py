"""One adapter per calendar system behind one small interface (`providers.base.Provider`)."""
