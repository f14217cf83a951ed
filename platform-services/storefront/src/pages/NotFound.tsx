import { Link } from "react-router-dom";
import { PageTitle } from "../components/States";

export default function NotFound() {
  return (
    <section>
      <PageTitle>Page not found</PageTitle>
      <p>
        There is nothing at this address. <Link to="/">Go to the catalogue</Link>
      </p>
    </section>
  );
}
