"""Raw arrays to model input: transforms, fitted preprocessing steps, and image augmentation."""
