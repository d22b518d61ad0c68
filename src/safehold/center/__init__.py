"""The privacy center (/me): what a person sees and does about their own data."""
