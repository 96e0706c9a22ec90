"""Operating the library: what its workers, queue and engines are doing, for admins."""
