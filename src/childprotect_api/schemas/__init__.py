"""Request and response models (XCreate, XUpdate, XRead): never the table classes."""
